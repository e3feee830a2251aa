"""Swap the running pipelines for ones built from a new config, and roll back when
health fails: the part of remote configuration that touches the running process.

Only the pipelines restart (vehicle sessions, scan stations, enrichment). The outbox
and the MQTT link stay up, so a record in flight is either committed before the old
pipeline is cancelled or emitted again by the new one: the sink's cancellation rule
(sync/outbox_commit.py) makes a cancelled emit all-or-nothing.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from agent.config import Config
from agent.errors import ConfigError
from agent.pipelines.sink import Pipeline, RecordSink
from agent.service.health import HealthRegistry
from agent.service.remote_config import Answer, RemoteLayer, RemoteStore, effective_config, keys_of

__all__ = ["Reconfigurer"]

log = logging.getLogger("baygate.reconfigure")

PipelinesFor = Callable[[Config], list[Pipeline]]


class Reconfigurer:
    """Owns the pipeline tasks (inside the runtime's TaskGroup) and the remote layer."""

    def __init__(
        self,
        local: Config,
        pipelines_for: PipelinesFor,
        health: HealthRegistry,
        store: RemoteStore,
        *,
        settle_s: float = 2.0,
        grace_s: float = 60.0,
        poll_s: float = 0.5,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
        on_rollback: Callable[[Answer], Awaitable[None]] | None = None,
    ) -> None:
        self.local = local
        self.pipelines_for = pipelines_for
        self.health = health
        self.store = store
        self.settle_s, self.grace_s, self.poll_s = settle_s, grace_s, poll_s
        self._sleep = sleep
        self._on_rollback = on_rollback
        self.layer: RemoteLayer | None = None
        self.config = local
        self._tg: asyncio.TaskGroup | None = None
        self._sink: RecordSink | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._core_checks = dict(health.checks)
        self._lock = asyncio.Lock()
        self._watch: asyncio.Task[None] | None = None
        self._generation = 0  # bumped by every swap a push makes

    @property
    def version(self) -> str | None:
        return self.layer.version if self.layer else None

    def load_kept(self) -> Config:
        """The config to start with: the local file plus the kept remote layer. A kept
        layer the (since edited) local file no longer accepts is dropped, loudly."""
        try:
            layer = self.store.load()
            self.config = effective_config(self.local, layer)
            self.layer = layer
        except ConfigError as exc:
            log.warning("kept remote config %s no longer applies, using the local file: %s",
                        self.store.path, exc)  # fmt: skip
            self.layer, self.config = None, self.local
        return self.config

    def start(self, tg: asyncio.TaskGroup, sink: RecordSink) -> None:
        self._tg, self._sink = tg, sink
        self._core_checks = dict(self.health.checks)
        self._launch(self.config)

    async def apply(self, layer: RemoteLayer) -> Answer:
        """Validate, swap, settle, answer; keep watching for `grace_s` in the background."""
        keys = keys_of(layer.settings)
        async with self._lock:
            if self.layer == layer:
                return Answer(layer.version, "unchanged", remote_keys=keys)
            try:
                new = effective_config(self.local, layer)
            except ConfigError as exc:
                return Answer(layer.version, "rejected", str(exc), keys)
            previous = (self.layer, self.config)
            if self._watch is not None:  # a newer push supersedes the last one's watch
                self._watch.cancel()
                self._watch = None
            self._generation += 1
            await self._swap(new)
            self.layer = layer
            self.store.save(layer)
            log.info("remote config %s applied (%s)", layer.version, ", ".join(keys) or "no keys")
            failing = await self._failing_within(self.settle_s)
            if failing:
                await self._rollback(previous, layer.version, failing)
                return Answer(layer.version, "rolled_back", failing, keys)
            assert self._tg is not None
            self._watch = self._tg.create_task(self._watch_grace(previous, layer, self._generation))
            return Answer(layer.version, "applied", remote_keys=keys)

    async def _watch_grace(
        self, previous: tuple[RemoteLayer | None, Config], layer: RemoteLayer, generation: int
    ) -> None:
        failing = await self._failing_within(max(0.0, self.grace_s - self.settle_s))
        if failing:
            async with self._lock:
                if self._generation != generation:
                    return  # superseded meanwhile: the newer push owns the outcome
                await self._rollback(previous, layer.version, failing)
            if self._on_rollback is not None:
                answer = Answer(layer.version, "rolled_back", failing, keys_of(layer.settings))
                await self._on_rollback(answer)

    async def _rollback(self, previous: tuple[RemoteLayer | None, Config], version: str, why: str) -> None:
        log.warning("remote config %s rolled back: %s", version, why)
        self.layer, config = previous
        await self._swap(config)
        self.store.save(self.layer)

    async def _failing_within(self, seconds: float) -> str | None:
        """The failing checks if health reaches "fail" within `seconds`, else None."""
        waited = 0.0
        while True:
            doc = self.health.evaluate()
            if doc["status"] == "fail":
                bad = [f"{n}: {c[0]['output']}" for n, c in doc["checks"].items() if c[0]["status"] == "fail"]
                return "health failed: " + "; ".join(bad)
            if waited >= seconds:
                return None
            await self._sleep(self.poll_s)
            waited += self.poll_s

    async def _swap(self, config: Config) -> None:
        old, self._tasks = self._tasks, []
        for t in old:
            t.cancel()
        if old:
            await asyncio.wait(old)
        # Checks the old pipelines registered go with them (a removed camera must not
        # keep reporting); the runtime's own checks stay.
        self.health.checks.clear()
        self.health.checks.update(self._core_checks)
        if config.log_level != self.config.log_level:
            logging.getLogger().setLevel(config.log_level)
        self._launch(config)

    def _launch(self, config: Config) -> None:
        assert self._tg is not None and self._sink is not None
        self.config = config
        self._tasks = [self._tg.create_task(p(self._sink)) for p in self.pipelines_for(config)]
