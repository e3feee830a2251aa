"""The fleet view behind `baygate fleet status`: one row per agent, from the broker's
retained status records and the ingest's store.

- The broker keeps each agent's latest status retained on `baygate/v1/{shop}/{agent}/status`:
  the birth ("online") the agent published on connect, or its Last Will ("offline") the
  broker published when the agent went away. It says the version, the connection counter
  (`session`: connections over the outbox's life, so reconnects = session - 1), the outbox
  depth and oldest age at connect, and the health checks (`dongle:NAME`, `camera:NAME`).
  `config_version` is read when a status carries it (remote configuration), else null.
- The store says since when (the ingest's receive time of the last presence change: a
  Last Will's own timestamp is its birth's, so only the receiver knows when it fired),
  the last record received, records, gaps, and the alerts still active.

Parsing is sans-IO (`parse_status`, `fleet_view`); `read_retained` is the one I/O step,
a bounded wait on the broker. Every status crosses the same bounds as an ingested record
(sync.envelope); one bad status is reported and skipped, never fatal.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from sync.envelope import TOPIC_ROOT, parse_incoming
from sync.errors import BadMessageError, LinkError
from sync.mqtt import TlsFiles, make_client, parse_url

__all__ = [
    "ALERT_RESOLVED_BY",
    "FleetAgent",
    "StatusSeen",
    "StoreView",
    "active_alerts",
    "fleet_view",
    "parse_status",
    "read_retained",
    "store_view",
]

STATUS_FILTER = f"{TOPIC_ROOT}/+/+/status"

# An alert code stays active until its resolving code arrives from the same agent.
# Info alerts (demo_start, breaker_closed ...) are never active themselves.
ALERT_RESOLVED_BY: dict[str, tuple[str, ...]] = {
    "breaker_closed": ("breaker_open",),
    "disk_ok": ("disk_full", "disk_low"),  # the disk monitor's levels: ok < low < critical
    "camera_up": ("camera_down",),
    "dongle_found": ("dongle_lost",),
    "service_up": ("service_down",),
    "upgrade_ok": ("upgrade_failed",),  # agent/service/runtime.py: a later upgrade succeeded
}
_MAX_CHECKS = 64  # a status is small; more checks than this is not ours


@dataclass(frozen=True)
class StatusSeen:
    shop: str
    agent: str
    online: bool
    version: str | None
    config_version: str | None
    session: int
    outbox_depth: int | None
    oldest_pending_s: float | None
    ts: float | None
    checks: dict[str, str]


@dataclass(frozen=True)
class StoreView:
    """What the ingest's store knows, per agent (built by `Store.fleet_rows`)."""

    presence: dict[tuple[str, str], tuple[str, float]]  # (shop, agent) -> (state, received)
    last_record: dict[tuple[str, str], float]  # -> last received, any record
    records: dict[tuple[str, str], int]
    gaps: dict[tuple[str, str], int]
    alerts: dict[tuple[str, str], list[tuple[str, str]]]  # -> [(code, severity)] in order


@dataclass
class FleetAgent:
    shop: str
    agent: str
    online: bool | None  # None: the broker holds no status and the store no presence
    since: float | None  # epoch seconds of the last online/offline change
    version: str | None = None
    config_version: str | None = None
    outbox_depth: int | None = None
    oldest_pending_s: float | None = None
    reconnects: int | None = None
    last_record: float | None = None
    records: int = 0
    gaps: int = 0
    active_alerts: list[str] = field(default_factory=list)
    dongles: dict[str, str] = field(default_factory=dict)
    cameras: dict[str, str] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def _num(value: object, kind: type) -> Any:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if kind is int and not isinstance(value, int):
        return None
    return value if value >= 0 else None


def _str(value: object, limit: int = 128) -> str | None:
    return value[:limit] if isinstance(value, str) else None


def parse_status(topic: str, payload: bytes) -> StatusSeen:
    """One retained status message; raises BadMessageError saying what is wrong."""
    try:
        inc = parse_incoming(topic, payload, {})  # topic, size, JSON object, ids, seq
    except RecursionError:  # json.loads on deep nesting (docs/facts.md); not a ValueError
        raise BadMessageError(f"{topic}: status nested too deep") from None
    if inc.kind != "status" or inc.state not in ("online", "offline") or inc.session is None:
        raise BadMessageError(f"{topic}: not a status record with state and session")
    body = json.loads(payload)
    checks: dict[str, str] = {}
    raw = body.get("checks")
    if isinstance(raw, dict):
        for name, status in list(raw.items())[:_MAX_CHECKS]:
            if isinstance(name, str) and isinstance(status, str):
                checks[name[:128]] = status[:16]
    cv = body.get("config_version")
    return StatusSeen(
        shop=inc.shop,
        agent=inc.agent,
        online=inc.state == "online",
        version=_str(body.get("version")),
        config_version=str(cv)[:128] if isinstance(cv, str | int) and not isinstance(cv, bool) else None,
        session=inc.session,
        outbox_depth=_num(body.get("outbox_depth"), int),
        oldest_pending_s=_num(body.get("oldest_pending_s"), float),
        ts=inc.ts,
        checks=checks,
    )


def active_alerts(alerts: Sequence[tuple[str, str]]) -> list[str]:
    """The codes still active after an agent's alerts, oldest first (a repeat counts once)."""
    active: list[str] = []
    for code, severity in alerts:
        resolved = ALERT_RESOLVED_BY.get(code)
        if resolved is not None:
            active = [c for c in active if c not in resolved]
        elif severity != "info" and code not in active:
            active.append(code)
    return active


def fleet_view(statuses: Iterable[StatusSeen], store: StoreView | None = None) -> list[FleetAgent]:
    """Merge the broker's retained statuses with the store's view; sorted by shop/agent."""
    rows: dict[tuple[str, str], FleetAgent] = {}
    for st in statuses:
        key = (st.shop, st.agent)
        rows[key] = FleetAgent(
            shop=st.shop,
            agent=st.agent,
            online=st.online,
            since=st.ts if st.online else None,
            version=st.version,
            config_version=st.config_version,
            outbox_depth=st.outbox_depth,
            oldest_pending_s=st.oldest_pending_s,
            reconnects=max(0, st.session - 1),
            dongles={k.split(":", 1)[1]: v for k, v in st.checks.items() if k.startswith("dongle:")},
            cameras={k.split(":", 1)[1]: v for k, v in st.checks.items() if k.startswith("camera:")},
        )
    if store is not None:
        keys = set(store.presence) | set(store.records) | set(store.last_record)
        for key in keys:
            row = rows.setdefault(key, FleetAgent(shop=key[0], agent=key[1], online=None, since=None))
            if key in store.presence:
                state, received = store.presence[key]
                if row.online is None:
                    row.online = state == "online"
                if row.online == (state == "online"):
                    row.since = received  # the receiver's clock: when it really changed
            row.last_record = store.last_record.get(key)
            row.records = store.records.get(key, 0)
            row.gaps = store.gaps.get(key, 0)
            row.active_alerts = active_alerts(store.alerts.get(key, []))
    return [rows[k] for k in sorted(rows)]


def read_retained(
    url: str,
    *,
    username: str | None = None,
    password: str | None = None,
    tls: TlsFiles | None = None,
    wait_s: float = 3.0,
    quiet_s: float = 0.3,
    client_id: str | None = None,
) -> tuple[list[StatusSeen], list[str]]:
    """Subscribe to every agent's status and collect what the broker holds retained:
    done `quiet_s` after the last one arrived (the broker sends them right after the
    SUBACK), or at `wait_s` in all. Returns (statuses, one line per bad message).
    Blocking: call it from a thread or a CLI. Raises LinkError if the broker is not there."""
    ep = parse_url(url)
    client = make_client(client_id or f"baygate-fleet-{time.monotonic_ns():x}", username=username,
                         password=password, tls=tls)  # fmt: skip
    got: dict[str, bytes] = {}
    state: dict[str, Any] = {"suback": False, "last": 0.0, "refused": None}

    def on_connect(_c: Any, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        if reason.is_failure:
            state["refused"] = str(reason)
        else:
            client.subscribe(STATUS_FILTER, qos=1)

    def on_subscribe(*_a: Any) -> None:
        state["suback"], state["last"] = True, time.monotonic()

    def on_message(_c: Any, _u: Any, msg: Any) -> None:
        if msg.retain:  # a live status published while we listen is as good, but only
            got[msg.topic] = bytes(msg.payload)  # retained ones are the fleet's state
            state["last"] = time.monotonic()

    client.on_connect, client.on_subscribe, client.on_message = on_connect, on_subscribe, on_message
    try:
        client.connect(ep.host, ep.port, keepalive=30)
    except Exception as exc:
        raise LinkError(f"cannot reach the broker at {ep.host}:{ep.port}: {exc}") from None
    deadline = time.monotonic() + wait_s
    try:
        while time.monotonic() < deadline:
            client.loop(timeout=0.05)
            if state["refused"] is not None:
                raise LinkError(f"the broker at {ep.host}:{ep.port} refused us: {state['refused']}")
            if state["suback"] and time.monotonic() - state["last"] >= quiet_s:
                break
        else:
            if not state["suback"]:
                raise LinkError(f"no answer from the broker at {ep.host}:{ep.port} within {wait_s}s")
    finally:
        client.disconnect()
    statuses, bad = [], []
    for topic, payload in sorted(got.items()):
        if not payload:
            continue  # a cleared retained status: the agent was retired
        try:
            statuses.append(parse_status(topic, payload))
        except BadMessageError as exc:
            bad.append(str(exc))
    return statuses, bad


def store_view(rows: Mapping[str, Any]) -> StoreView:
    """Build the StoreView from `Store.fleet_rows()` (raw rows; alerts' payloads parsed
    here with the same bounds as everything else)."""
    alerts: dict[tuple[str, str], list[tuple[str, str]]] = {}
    for shop, agent, payload in rows["alerts"]:
        try:
            body = json.loads(payload)
        except (ValueError, TypeError, RecursionError):
            continue
        if isinstance(body, dict) and isinstance(body.get("code"), str):
            raw = body.get("severity")
            sev = raw[:16] if isinstance(raw, str) else "warning"
            alerts.setdefault((shop, agent), []).append((body["code"][:64], sev))
    return StoreView(
        presence={(s, a): (st, rec) for s, a, st, rec in rows["presence"]},
        last_record={(s, a): last for s, a, last, _n, _g in rows["streams"] if last is not None},
        records={(s, a): n for s, a, _l, n, _g in rows["streams"]},
        gaps={(s, a): g for s, a, _l, _n, g in rows["streams"]},
        alerts=alerts,
    )
