"""Pre-flight checks for a Pi in a bay: config, broker, system libraries, devices, state dir.

Each check returns pass / warn / fail and, when not passing, the fix. An optional
device that is absent is "warn" (docs/facts.md health conventions).
"""

from __future__ import annotations

import ctypes.util
import os
import socket
import ssl
import struct
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from agent.config import Config
from agent.errors import ConfigError
from agent.state_dir import ensure_state_dir
from drivers.camera.ocr import engine_problem

__all__ = ["Check", "mqtt_connack", "run_checks"]

Status = Literal["pass", "warn", "fail"]


@dataclass(frozen=True)
class Check:
    name: str
    status: Status
    detail: str
    fix: str = ""


def mqtt_connack(url: str, timeout: float = 3.0, tls_ca: Path | None = None) -> int:
    """Send a bare MQTT 3.1.1 CONNECT and return the CONNACK return code (0 = accepted).

    A raw packet, not paho: doctor must tell "port closed" from "not a broker" from
    "broker refused" in 3 s without starting a network thread.
    """
    parts = urlsplit(url)
    host = parts.hostname or "127.0.0.1"
    port = parts.port or (8883 if parts.scheme == "mqtts" else 1883)
    client_id = b"baygate-doctor"
    var = b"\x00\x04MQTT\x04\x02\x00\x0a"  # level 4, clean session, keepalive 10 s
    payload = struct.pack("!H", len(client_id)) + client_id
    body = var + payload
    packet = b"\x10" + bytes([len(body)]) + body
    with socket.create_connection((host, port), timeout=timeout) as raw:
        sock: socket.socket = raw
        if parts.scheme == "mqtts":
            ctx = ssl.create_default_context(cafile=str(tls_ca) if tls_ca else None)
            sock = ctx.wrap_socket(raw, server_hostname=host)
        sock.sendall(packet)
        reply = sock.recv(4)
    if len(reply) < 4 or reply[0] != 0x20:
        raise ConnectionError(f"{host}:{port} answered, but not as an MQTT broker")
    return reply[3]


def _check_broker(cfg: Config) -> Check:
    url = cfg.mqtt.url
    try:
        code = mqtt_connack(url, tls_ca=cfg.mqtt.ca_file)
    except (OSError, ConnectionError) as exc:
        return Check(
            "broker", "fail", f"{url}: {exc}", "check mqtt.url, the network and that the broker runs"
        )
    if code == 0:
        return Check("broker", "pass", f"{url} accepted a connection")
    if code in (4, 5):
        # Anonymous probe refused: the broker is there and wants credentials.
        return Check(
            "broker",
            "warn",
            f"{url} is up and requires authentication (code {code})",
            "make sure mqtt.username / mqtt.password are set",
        )
    return Check("broker", "fail", f"{url} refused the connection (code {code})", "see the broker's log")


def _check_state_dir(cfg: Config) -> Check:
    d = cfg.agent.state_dir
    try:
        ensure_state_dir(cfg)
    except ConfigError as exc:
        return Check("state_dir", "fail", exc.message, f"create {d} writable by the baygate user")
    return Check("state_dir", "pass", f"{d} is writable")


def _check_ocr(cfg: Config) -> Check:
    # VIN OCR is PP-OCR on ONNX Runtime (drivers/camera/ocr.py); its models ship in the
    # rapidocr wheel, so no system package is involved.
    problem = engine_problem()
    if problem is None:
        return Check("ocr", "pass", "PP-OCR models and ONNX Runtime present")
    status: Status = "fail" if cfg.cameras else "warn"
    return Check("ocr", status, problem, "reinstall baygate from its lock (rapidocr, onnxruntime)")


def _check_zbar(cfg: Config) -> Check:
    if ctypes.util.find_library("zbar"):
        return Check("zbar", "pass", "libzbar found")
    status: Status = "fail" if cfg.cameras else "warn"
    return Check("zbar", status, "libzbar not found", "apt-get install --no-install-recommends libzbar0")


def _check_dbus(cfg: Config) -> Check:
    ble = [d.name for d in cfg.obd.dongles if d.url.startswith("ble://")]
    if not ble:
        return Check("bluetooth", "pass", "no BLE dongles configured")
    if Path("/run/dbus/system_bus_socket").exists():
        return Check("bluetooth", "pass", "D-Bus system bus present (BlueZ reachable)")
    return Check(
        "bluetooth",
        "fail",
        f"BLE dongles {ble} need BlueZ over D-Bus",
        "apt-get install bluez and enable bluetooth.service",
    )


def _check_devices(cfg: Config) -> Check:
    missing = [
        d.url
        for d in cfg.obd.dongles
        if d.url.startswith("serial://") and not Path(d.url.removeprefix("serial://").split("?")[0]).exists()
    ]
    missing += [c.source for c in cfg.cameras if c.source.startswith("/dev/") and not Path(c.source).exists()]
    if missing:
        return Check(
            "devices",
            "warn",
            f"not present now: {', '.join(missing)}",
            "plug the device in; the agent reopens it when it appears",
        )
    return Check("devices", "pass", "configured local devices are present")


def _check_mqtt_section(cfg: Config) -> Check:
    if "mqtt" in cfg.model_fields_set:
        return Check("mqtt_config", "pass", f"[mqtt] url = {cfg.mqtt.url}")
    # run would silently use the default broker: say so before records pile up unsent.
    return Check(
        "mqtt_config",
        "warn",
        f"no [mqtt] section: records go to the default broker {cfg.mqtt.url}",
        "add [mqtt] url = \"mqtt://YOUR-BROKER:1883\" (config/agent.example.toml)",
    )


def _check_secrets(cfg: Config) -> Check:
    m = cfg.mqtt
    secrets = (("password", m.password), ("key_file", m.key_file), ("auth_key", m.auth_key))
    named = [(k, s) for k, s in secrets if s]
    if not named:
        return Check("secrets", "pass", "no secrets configured")
    later = []
    for key, secret in named:
        ref = secret.reference
        relative = ref.startswith("file:") and not Path(ref[5:]).is_absolute()
        if relative and not os.environ.get("CREDENTIALS_DIRECTORY"):
            later.append(f"mqtt.{key}")  # relative: systemd's LoadCredential= provides it
            continue
        try:
            secret.reveal()
        except ConfigError as exc:
            return Check("secrets", "fail", str(exc), "create the file or set the variable it names")
    if later:
        return Check(
            "secrets",
            "warn",
            f"{', '.join(later)} resolve under systemd's $CREDENTIALS_DIRECTORY: not checked here",
            "make sure /etc/baygate/credentials/ holds them (LoadCredential=)",
        )
    return Check("secrets", "pass", f"{', '.join('mqtt.' + k for k, _ in named)} readable")


def _check_manufacturers(cfg: Config) -> Check:
    from agent.enrich.connectors.spec import load_connectors
    from agent.enrich.errors import EnrichError

    d = cfg.enrich.manufacturers_dir
    if not (cfg.enrich.enabled or cfg.cameras):
        return Check("manufacturers", "pass", "enrichment off and no cameras: not used")
    if not d.is_dir():
        # run goes on without them: no serial is attributed, nothing is registered.
        return Check(
            "manufacturers",
            "warn",
            f"enrich.manufacturers_dir {d} does not exist: serials are not attributed or registered",
            f"copy config/manufacturers/*.toml to {d}",
        )
    try:
        connectors = load_connectors(d)
    except EnrichError as exc:
        return Check("manufacturers", "fail", str(exc), "fix the file (docs/enrich.md: connector format)")
    return Check("manufacturers", "pass", f"{len(connectors)} connectors in {d}")


def _reachable(url: str, timeout: float = 3.0) -> str | None:
    """None if a TCP connection to the URL's host and port opens, else why not."""
    parts = urlsplit(url if "://" in url else f"tcp://{url}")
    default = {"https": 443, "http": 80}.get(parts.scheme, 0)
    try:
        port = parts.port or default
        with socket.create_connection((parts.hostname or "", port), timeout=timeout):
            return None
    except (OSError, ValueError) as exc:
        return f"{parts.hostname}:{parts.port or default}: {getattr(exc, 'strerror', None) or exc}"


def _probe_all(urls: list[str]) -> list[str]:
    with ThreadPoolExecutor(max_workers=8, thread_name_prefix="doctor-probe") as pool:
        return [why for why in pool.map(_reachable, urls) if why]


def _check_dongles_reachable(cfg: Config) -> Check:
    tcp = [d.url for d in cfg.obd.dongles if d.url.startswith("tcp://")]
    if not tcp:
        return Check("dongle_network", "pass", "no Wi-Fi (tcp://) dongles configured")
    down = _probe_all(tcp)
    if down:
        # run keeps retrying with backoff; the bay's dongle may just be switched off.
        return Check(
            "dongle_network",
            "warn",
            f"not reachable now: {'; '.join(down)}",
            "check the dongle is powered and this Pi is on its Wi-Fi",
        )
    return Check("dongle_network", "pass", f"{len(tcp)} Wi-Fi dongles answer")


def _check_remote_services(cfg: Config) -> Check:
    if not cfg.enrich.enabled:
        return Check("remote_services", "pass", "enrichment off")
    n = cfg.enrich.nhtsa
    urls = [n.vpic_url, n.recalls_url]
    if cfg.enrich.manufacturer_base_url:
        urls.append(cfg.enrich.manufacturer_base_url)
    else:
        try:
            from agent.enrich.connectors.spec import ApiMethod, load_connectors

            d = cfg.enrich.manufacturers_dir
            for c in (load_connectors(d) if d.is_dir() else {}).values():
                urls += [m.base_url for m in c.methods if isinstance(m, ApiMethod)]
        except Exception:
            pass  # reported by the manufacturers check
    down = _probe_all(sorted(set(urls)))
    if down:
        return Check(
            "remote_services",
            "warn",
            f"not reachable now: {'; '.join(down)} (lookups wait in the durable queue)",
            "check DNS, the firewall and a proxy; the queue retries by itself",
        )
    return Check("remote_services", "pass", f"{len(set(urls))} NHTSA/manufacturer hosts reachable")


CHECKS: list[Callable[[Config], Check]] = [
    _check_mqtt_section,
    _check_secrets,
    _check_manufacturers,
    _check_dongles_reachable,
    _check_remote_services,
    _check_state_dir,
    _check_broker,
    _check_ocr,
    _check_zbar,
    _check_dbus,
    _check_devices,
]


def run_checks(cfg: Config) -> list[Check]:
    """Run every check; one that raises becomes a failing check, not a crash."""
    results = [Check("config", "pass", "valid")]
    for check in CHECKS:
        try:
            results.append(check(cfg))
        except Exception as exc:  # a doctor must report, not crash
            results.append(Check(check.__name__.removeprefix("_check_"), "fail", f"check crashed: {exc!r}"))
    if os.geteuid() == 0:
        results.append(
            Check("user", "warn", "running as root", "run as the baygate system user (systemd unit)")
        )
    return results
