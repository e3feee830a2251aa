"""What the link and the ingest share about paho: URLs, TLS, client creation, errors.

paho exceptions and reason codes are translated into sync.errors here and nowhere else.
A fresh paho client is made for every connection: paho keeps unacknowledged messages
in RAM and resends all of them on reconnect ignoring max_inflight, so instead the
durable store (outbox / broker session) is the only queue, and a dead client is dropped.
"""

from __future__ import annotations

import contextlib
import os
import re
import socket
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from sync.errors import AuthRefusedError, ConnectRefusedError, LinkError, SyncError, TlsError

__all__ = [
    "Endpoint",
    "PackedProperties",
    "TlsFiles",
    "connack_error",
    "connect_error",
    "describe_disconnect",
    "make_client",
    "pack_user_properties",
    "parse_url",
    "properties",
    "resolve_credential",
    "user_properties",
]

_AUTH_CODES = (0x86, 0x87)  # Bad user name or password, Not authorized


@dataclass(frozen=True)
class Endpoint:
    host: str
    port: int
    tls: bool


def parse_url(url: str) -> Endpoint:
    """mqtt://host[:port] (1883) or mqtts://host[:port] (8883)."""
    m = re.match(r"^(mqtts?)://([^/:]+)(?::(\d+))?/?$", url)
    if not m:
        raise LinkError(f"bad MQTT URL {url!r}: expected mqtt://host[:port] or mqtts://host[:port]")
    tls = m.group(1) == "mqtts"
    return Endpoint(m.group(2), int(m.group(3) or (8883 if tls else 1883)), tls)


def resolve_credential(path: Path) -> Path:
    """A relative path names a systemd credential ($CREDENTIALS_DIRECTORY, LoadCredential=)."""
    creds = os.environ.get("CREDENTIALS_DIRECTORY")
    if not path.is_absolute() and creds:
        return Path(creds) / path
    return path


@dataclass(frozen=True)
class TlsFiles:
    ca_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None
    insecure: bool = False  # skip hostname check only (tests with IP-only certs)


def make_client(
    client_id: str,
    *,
    username: str | None = None,
    password: str | None = None,
    tls: TlsFiles | None = None,
    manual_ack: bool = False,
    inflight: int = 100,
) -> Any:
    """A paho MQTT 5 client that never reconnects on its own."""
    client = paho.Client(
        callback_api_version=CallbackAPIVersion.VERSION2,
        client_id=client_id,
        protocol=paho.MQTTv5,
        reconnect_on_failure=False,
        manual_ack=manual_ack,
    )
    client.max_inflight_messages_set(inflight)
    client.on_socket_open = _no_delay
    if username is not None:
        client.username_pw_set(username, password)
    if tls is not None:
        _setup_tls(client, tls)
    return client


def _no_delay(_client: Any, _userdata: Any, sock: Any) -> None:
    """MQTT is request/response: with Nagle on, a PUBACK or the tail of a burst of
    publishes waits for the peer's delayed ACK (40 ms on Linux). Measured on the link,
    100-message windows turned over every ~33 ms: 2,900 msg/s end to end, 9,300 with
    TCP_NODELAY. paho 2.2 does not set it; Mosquitto's `set_tcp_nodelay` is the
    broker-side half (docs/operations.md)."""
    with contextlib.suppress(OSError, AttributeError):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def _setup_tls(client: Any, tls: TlsFiles) -> None:
    files = [resolve_credential(p) if p else None for p in (tls.ca_file, tls.cert_file, tls.key_file)]
    for f in files:
        if f is not None and not f.is_file():
            raise TlsError(f"TLS file {f} does not exist or is not readable")
    ca, cert, key = (str(f) if f else None for f in files)
    try:
        client.tls_set(ca_certs=ca, certfile=cert, keyfile=key, cert_reqs=ssl.CERT_REQUIRED)
        if tls.insecure:
            client.tls_insecure_set(True)
    except (ssl.SSLError, OSError, ValueError) as exc:
        raise TlsError(f"TLS setup failed (ca={ca}, cert={cert}, key={key}): {exc}") from None


def _close_orphan_sockets(exc: BaseException) -> None:
    """paho drops the socket it was handshaking on when TLS fails, without closing it;
    it is only reachable from the traceback's frames. Close it now instead of leaving
    a ResourceWarning for the garbage collector (once per reconnect attempt)."""
    tb = exc.__traceback__
    while tb is not None:
        for value in list(tb.tb_frame.f_locals.values()):
            if isinstance(value, socket.socket):
                value.close()
        tb = tb.tb_next


def connect_error(exc: BaseException, endpoint: Endpoint) -> SyncError:
    """Translate what paho's connect() raised."""
    _close_orphan_sockets(exc)
    where = f"{endpoint.host}:{endpoint.port}"
    if isinstance(exc, ssl.SSLError | ssl.CertificateError):
        return TlsError(f"TLS handshake with {where} failed: {exc}")
    if isinstance(exc, OSError):
        return LinkError(f"cannot reach broker {where}: {exc.strerror or exc}")
    return LinkError(f"connecting to {where} failed: {exc!r}")


def connack_error(reason_code: Any) -> ConnectRefusedError:
    code = int(getattr(reason_code, "value", reason_code))
    name = str(reason_code)
    if code in _AUTH_CODES:
        return AuthRefusedError(name, code)
    return ConnectRefusedError(name, code)


class PackedProperties(Properties):
    """Publish user properties packed once, by hand: paho packs them again for every
    publish, and building and packing a paho Properties costs ~55 us (measured; a third
    of the link's CPU time when resending a backlog, and the whole cost of a per-record
    MAC). Here: ~3 us. tests/sync/test_units.py checks the bytes equal paho's."""

    def __init__(self, user: list[tuple[str, str]]) -> None:
        # Properties.__init__ rebuilds its name/type tables (~12 us): share the template's
        self.__dict__.update(_TEMPLATE.__dict__)
        object.__setattr__(self, "UserProperty", list(user))
        object.__setattr__(self, "_packed", pack_user_properties(user))

    def pack(self) -> bytes:
        packed: bytes = object.__getattribute__(self, "_packed")
        return packed


_TEMPLATE = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
_USER_PROPERTY = b"\x26"  # MQTT 5 property identifier 38: UTF-8 string pair


def _utf8(text: str) -> bytes:
    data = text.encode()
    return len(data).to_bytes(2, "big") + data


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        n, digit = divmod(n, 128)
        out.append(digit | (0x80 if n else 0))
        if not n:
            return bytes(out)


def pack_user_properties(user: list[tuple[str, str]]) -> bytes:
    """The property section of a PUBLISH carrying only these user properties."""
    body = b"".join(_USER_PROPERTY + _utf8(k) + _utf8(v) for k, v in user)
    return _varint(len(body)) + body


def properties(packet: int = PacketTypes.PUBLISH, **values: Any) -> Properties:
    props = Properties(packet)  # type: ignore[no-untyped-call]
    for k, v in values.items():
        setattr(props, k, v)
    return props


def user_properties(props: Any) -> dict[str, str]:
    """MQTT 5 user properties of an incoming message as a dict."""
    pairs = getattr(props, "UserProperty", None) or []
    return {str(k): str(v) for k, v in pairs}


# DISCONNECT reasons that are an orderly end, not a fault (MQTT 5, 3.14.2.1).
_ORDERLY = {0x00: "normal disconnection", 0x8B: "the broker is shutting down"}


def describe_disconnect(flags: Any, reason: Any) -> tuple[bool, str]:
    """(orderly, words) for paho's on_disconnect. paho reports a socket closed without a
    DISCONNECT packet as 'Unspecified error' (0x80): that is what a broker that stops or
    restarts looks like, so say that instead of a reason nobody sent."""
    code = int(getattr(reason, "value", reason) or 0)
    if not getattr(flags, "is_disconnect_packet_from_server", True):
        return False, "the broker closed the connection (stopped, restarted or unreachable)"
    if code in _ORDERLY:
        return True, _ORDERLY[code]
    return False, f"{reason} (reason 0x{code:02X})"
