"""The remote command channel: allow-listed names, pydantic-validated arguments.

A command arrives on `{base}/cmd/{name}` with a JSON object of arguments, an MQTT 5
response topic and correlation data. Only registered names run, and only with
arguments that validate against the name's model (extra keys forbidden). The reply is
`{"ok": true, "result": {...}}` or `{"ok": false, "error": "..."}` on the response
topic, with the request's correlation data. A command without a response topic is
refused (logged) and not run: a caller that cannot hear the answer must not cause side
effects it cannot observe.

sync provides the channel; the agent registers the handlers (ping, status, replay).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from sync.errors import CommandError
from untrusted import Rejections, UntrustedInputError, parse_object

__all__ = ["CommandArgs", "CommandChannel", "Handler", "Reply", "Respond", "encode_reply"]

log = logging.getLogger("baygate.sync.commands")

MAX_COMMAND_BYTES = 64 * 1024
QUEUE = 64  # commands waiting to run; beyond that the sender hears "busy"


class CommandArgs(BaseModel):
    """Base for argument models: unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", frozen=True)


Handler = Callable[[Any], Awaitable[Mapping[str, Any]]]


@dataclass(frozen=True)
class Reply:
    ok: bool
    result: Mapping[str, Any] | None = None
    error: str | None = None


Respond = Callable[[str, bytes | None, Reply], None]  # (response topic, correlation, reply)


def encode_reply(reply: Reply) -> bytes:
    body: dict[str, Any] = {"ok": reply.ok}
    if reply.ok:
        body["result"] = dict(reply.result or {})
    else:
        body["error"] = reply.error
    return json.dumps(body, default=str, separators=(",", ":")).encode()


class CommandChannel:
    """Registry + dispatcher. `handle` never raises: every outcome is a Reply."""

    def __init__(self) -> None:
        self._handlers: dict[str, tuple[type[BaseModel], Handler]] = {}
        self._queue: asyncio.Queue[tuple[str, bytes, str | None, bytes | None]] = asyncio.Queue(QUEUE)
        self.refused = 0  # unknown names, invalid arguments, malformed payloads
        self.failed = 0  # handlers that raised
        self.rejections = Rejections(log)  # logged once per burst, counted by reason

    def offer(
        self,
        name: str,
        payload: bytes,
        response_topic: str | None,
        correlation: bytes | None,
        respond: Respond,
    ) -> None:
        """A command arrived (from the transport, on the event loop): queue it for
        `serve`, or answer "busy" at once when QUEUE are already waiting."""
        try:
            self._queue.put_nowait((name, payload, response_topic, correlation))
        except asyncio.QueueFull:
            if response_topic:
                respond(response_topic, correlation, Reply(ok=False, error="busy: too many commands queued"))

    async def serve(self, respond: Respond) -> None:
        """Run queued commands one at a time, forever; answer each through `respond`."""
        while True:
            name, payload, response_topic, correlation = await self._queue.get()
            if not response_topic:
                self.refused += 1
                self.rejections.refuse("command without a response topic", name[:64])
                continue
            respond(response_topic, correlation, await self.handle(name, payload))

    def register(self, name: str, args: type[BaseModel], handler: Handler) -> None:
        if name in self._handlers:
            raise CommandError(f"command {name!r} is already registered")
        self._handlers[name] = (args, handler)

    @property
    def names(self) -> list[str]:
        return sorted(self._handlers)

    def parse(self, name: str, payload: bytes) -> tuple[Handler, BaseModel]:
        """Validate a request; raises CommandError saying why it is refused."""
        if name not in self._handlers:
            raise CommandError(f"unknown command {name[:64]!r} (allowed: {', '.join(self.names)})")
        model, handler = self._handlers[name]
        try:
            raw = parse_object(payload or b"{}", max_bytes=MAX_COMMAND_BYTES, max_depth=8, what="arguments")
        except UntrustedInputError as exc:
            raise CommandError(f"command {name!r}: {exc}") from None
        try:
            args = model.model_validate(raw)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"]) or "(arguments)"
            raise CommandError(f"command {name!r}: invalid argument {where}: {first['msg']}") from None
        return handler, args

    async def handle(self, name: str, payload: bytes) -> Reply:
        try:
            handler, args = self.parse(name, payload)
        except CommandError as exc:
            self.refused += 1
            self.rejections.refuse("command", exc)
            return Reply(ok=False, error=str(exc))
        try:
            result = await handler(args)
        except Exception as exc:  # a handler bug must not take the link down
            self.failed += 1
            log.warning("command %s failed: %r", name, exc)
            return Reply(ok=False, error=f"command {name!r} failed: {exc}")
        return Reply(ok=True, result=result)
