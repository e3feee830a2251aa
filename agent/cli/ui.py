"""`baygate ui url`: the bay screen's URL with its token, and a QR code a tablet scans.

The URL carries the `act` token (finish visits, mark tasks done) unless --read-only.
Exit 2 when the config has the screen disabled or names a bay it does not serve.
"""

from __future__ import annotations

import argparse
import ipaddress
import socket
import sys
from urllib.parse import quote

from agent.config import Config
from agent.errors import ConfigError
from agent.ui.app import bay_map
from agent.ui.tokens import load_tokens

__all__ = ["HELP", "NEEDS_CONFIG", "add_arguments", "run", "screen_url"]

HELP = "print the bay screen's URL with its access token, and a terminal QR code"
NEEDS_CONFIG = True


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="ui_command", metavar="ACTION", required=True)
    url = sub.add_parser("url", help="the URL (and QR code) of the overview or one bay's page")
    url.add_argument("--bay", help="one bay's page instead of the overview")
    url.add_argument("--read-only", action="store_true", help="a view-only token (no finish, no clear)")
    url.add_argument("--no-qr", action="store_true", help="print the URL only")


def _lan_address() -> str:
    """This host's address on the LAN (the route to a TEST-NET address; nothing is sent)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect(("192.0.2.1", 9))
            return str(s.getsockname()[0])
        except OSError:
            return socket.gethostname()


def screen_url(config: Config, *, bay: str | None, read_only: bool) -> str:
    ui = config.ui
    if not ui.enabled:
        raise ConfigError("ui.enabled", "the bay screen is disabled in this config")
    if bay is not None and bay not in bay_map(config).bays:
        raise ConfigError("", f"no bay {bay!r} here (bays: {', '.join(bay_map(config).bays)})")
    if ui.public_url:
        base = ui.public_url.rstrip("/")
    else:
        host = ui.bind or config.api.bind
        port = config.api.port if ui.port is None else ui.port
        if ipaddress.ip_address(host).is_unspecified:
            host = _lan_address()
        base = f"http://{f'[{host}]' if ':' in host else host}:{port}"
    tokens = load_tokens(config.agent.state_dir)
    token = tokens.view if read_only else tokens.act
    page = f"/ui/bay/{quote(bay, safe='')}" if bay else "/ui/"
    return f"{base}{page}?token={token}"


def run(args: argparse.Namespace, config: Config | None) -> int:
    assert config is not None
    url = screen_url(config, bay=args.bay, read_only=args.read_only)
    print(url)
    if not args.no_qr:
        import segno

        segno.make(url, error="m").terminal(out=sys.stdout, compact=True)
    return 0
