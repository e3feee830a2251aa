"""The backend side of the command channel: send one command to many agents, signed
with each agent's key, and collect their answers.

Each request goes to `{agent}/cmd/{name}` with the agent's own reply topic
(`{agent}/reply`, which its ACL lets it publish) as MQTT 5 response topic and a fresh
correlation id; the MAC covers the response topic, so a captured command cannot be
redirected (sync/auth.py). Answers are matched by correlation id and parsed through
the bounded parser: an agent's reply is outside input here.

A one-shot tool for the CLI (`baygate fleet config push`): it runs paho's own network
thread for the few seconds it lives rather than an event loop.
"""

from __future__ import annotations

import json
import queue
import time
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sync.auth import MAC_PROPERTY, sign
from sync.commands import Reply
from sync.envelope import AgentTopics
from sync.errors import LinkError
from sync.keyring import KeyRing
from sync.mqtt import TlsFiles, make_client, parse_url, properties
from untrusted import parse_object
from untrusted.errors import UntrustedInputError

__all__ = ["MAX_REPLY_BYTES", "Target", "request_all"]

MAX_REPLY_BYTES = 64 * 1024


@dataclass(frozen=True)
class Target:
    shop: str
    agent: str

    def __str__(self) -> str:
        return f"{self.shop}/{self.agent}"


def _reply(raw: bytes) -> Reply:
    try:
        body = parse_object(raw, max_bytes=MAX_REPLY_BYTES, what="command reply")
    except UntrustedInputError as exc:
        return Reply(ok=False, error=f"unreadable reply: {exc}")
    if body.get("ok") is True and isinstance(body.get("result"), dict):
        return Reply(ok=True, result=body["result"])
    return Reply(ok=False, error=str(body.get("error") or "reply without a result"))


def request_all(
    url: str,
    targets: Iterable[Target],
    name: str,
    args: Mapping[str, Any],
    *,
    keys: KeyRing | None,
    client_id: str,
    username: str | None = None,
    password: str | None = None,
    tls: TlsFiles | None = None,
    timeout_s: float = 10.0,
) -> dict[Target, Reply | None]:
    """Each target's reply, or None when it did not answer within `timeout_s` (an
    offline agent: the command is not queued for later; ask again)."""
    wanted = list(dict.fromkeys(targets))
    payload = json.dumps(dict(args), separators=(",", ":")).encode()
    ep = parse_url(url)
    got: queue.Queue[tuple[bytes, bytes | None]] = queue.Queue()
    client = make_client(client_id, username=username, password=password, tls=tls)
    client.on_message = lambda _c, _u, m: got.put(
        (bytes(m.payload), getattr(m.properties, "CorrelationData", None))
    )
    try:
        client.connect(ep.host, ep.port, 30)
    except (OSError, ValueError) as exc:
        raise LinkError(f"cannot reach the broker at {ep.host}:{ep.port}: {exc}") from None
    client.loop_start()
    try:
        by_corr: dict[bytes, Target] = {}
        for t in wanted:
            client.subscribe(AgentTopics.of(t.shop, t.agent).reply, qos=1)
        time.sleep(0.2)  # SUBACKs before the first answer can arrive
        for t in wanted:
            topics = AgentTopics.of(t.shop, t.agent)
            topic, reply_topic, corr = topics.command(name), topics.reply, uuid.uuid4().bytes
            props: dict[str, Any] = {"ResponseTopic": reply_topic, "CorrelationData": corr}
            key = keys.key(t.shop, t.agent) if keys is not None else None
            if key is not None:
                props["UserProperty"] = [(MAC_PROPERTY, sign(key, topic, payload, {"rt": reply_topic}))]
            client.publish(topic, payload, qos=1, properties=properties(**props))
            by_corr[corr] = t
        answers: dict[Target, Reply | None] = dict.fromkeys(wanted)
        deadline = time.monotonic() + timeout_s
        while any(v is None for v in answers.values()):
            left = deadline - time.monotonic()
            if left <= 0:
                break
            try:
                raw, corr_in = got.get(timeout=left)
            except queue.Empty:
                break
            target = by_corr.get(corr_in or b"")
            if target is not None and answers[target] is None:
                answers[target] = _reply(raw)
        return answers
    finally:
        client.disconnect()
        client.loop_stop()
