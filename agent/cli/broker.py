"""`baygate broker`: the production Mosquitto setup (identities, ACLs, agent keys).

    baygate broker init --dir DIR [--port 1883] [--bind 0.0.0.0]
    baygate broker add-agent --dir DIR SHOP AGENT [--url mqtt://broker:1883]

`init` writes DIR/mosquitto.conf (anonymous clients refused, password file, ACL) and
the backend identity; `add-agent` issues an agent's username, password and 32-byte
authentication key and prints the agent's `[mqtt]` lines. Reload Mosquitto after
add-agent (`systemctl reload mosquitto` or kill -HUP). See docs/security.md.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from agent.config import Config
from agent.errors import AgentError
from sync.provision import BACKEND_USER, ProvisionError, add_agent, init_dir

__all__ = ["HELP", "NEEDS_CONFIG", "add_arguments", "run"]

HELP = "write the production broker setup: identities, ACLs, agent keys"
NEEDS_CONFIG = False


def add_arguments(parser: argparse.ArgumentParser) -> None:
    subs = parser.add_subparsers(dest="broker_command", metavar="ACTION", required=True)
    init = subs.add_parser("init", help="write mosquitto.conf, ACL and the backend identity")
    init.add_argument("--dir", type=Path, required=True, help="directory for mosquitto.conf, ACL and keys")
    init.add_argument("--port", type=int, default=1883, help="port the broker listens on (default 1883)")
    init.add_argument("--bind", default="0.0.0.0", help="address the broker listens on (default all)")
    add = subs.add_parser("add-agent", help="issue an agent identity and print its [mqtt] lines")
    add.add_argument("--dir", type=Path, required=True, help="the directory `broker init` wrote")
    add.add_argument("--url", default="mqtt://broker:1883", help="the broker URL the agent uses")
    add.add_argument("shop", help="shop id (agent.shop_id of that Pi)")
    add.add_argument("agent", help="agent id (agent.agent_id of that Pi)")


def run(args: argparse.Namespace, config: Config | None) -> int:
    try:
        if args.broker_command == "init":
            init_dir(args.dir, port=args.port, bind=args.bind)
            d = args.dir.resolve()
            print(f"broker setup written to {d}: run `mosquitto -c {d / 'mosquitto.conf'}`")
            print(
                f"backend: baygate backend --username {BACKEND_USER} --keys-dir {d / 'keys'} "
                f"(its password is in {d / 'backend.password'})"
            )
            return 0
        ident = add_agent(args.dir, args.shop, args.agent)
    except ProvisionError as exc:
        raise AgentError(str(exc)) from None
    # The agent's settings, to paste into its agent.toml (or move the two secrets into
    # files and use `file:` references). Reload mosquitto so it knows the identity.
    print(f"# agent {ident.shop}/{ident.agent}: reload mosquitto (kill -HUP) to activate")
    print("[mqtt]")
    print(f'url = "{args.url}"')
    print(f'client_id = "baygate-{ident.shop}-{ident.agent}"')
    print(f'username = "{ident.username}"')
    print(f'password = "{ident.password}"')
    print(f'auth_key = "{ident.key.hex()}"')
    return 0
