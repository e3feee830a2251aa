"""`baygate run`: one asyncio TaskGroup owning the outbox, the MQTT link, the command
channel, the status record and every pipeline.

A pipeline is any `Callable[[RecordSink], Coroutine[Any, Any, None]]`: it gets the outbox sink
and runs until cancelled (vehicle sessions, scan stations, enrichment are added to
the list by `pipelines_from_config`). It also serves /health and /metrics, tells systemd
READY=1 once the outbox is open, and pings the watchdog while health is not failing.
If any task fails, the TaskGroup cancels the others and `run` raises: systemd restarts
the agent, and the outbox keeps everything that was committed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from collections.abc import Callable, Coroutine, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agent import __version__
from agent.config import Config
from agent.errors import AgentError, ConfigError
from agent.pipelines.outbox_sink import OutboxSink
from agent.pipelines.sink import Pipeline, build_record
from agent.records import utcnow
from agent.service.api import serve_api
from agent.service.commands import register_commands
from agent.service.disk import disk_check, watch_disk
from agent.service.health import HealthRegistry, Status
from agent.service.metrics import AgentMetrics, DiskCollector, LinkCollector, OutboxCollector
from agent.service.reconfigure import Reconfigurer
from agent.service.remote_config import Answer, RemoteStore
from agent.service.sdnotify import notify, watchdog_interval_s
from agent.service.shutdown import SHUTDOWN_BOUND_S, ShutdownDeadline
from agent.service.upgrade import Upgrader
from agent.service.watchdog import watchdog
from sync.auth import decode_key
from sync.commands import CommandChannel
from sync.disk import DiskGuard, DiskLimits
from sync.envelope import agent_topic
from sync.errors import AuthKeyError
from sync.link import Link, LinkSettings, StatusInfo, StatusRender
from sync.mqtt import TlsFiles
from sync.outbox import Outbox

__all__ = [
    "Pipeline",
    "Runtime",
    "disk_limits",
    "link_settings",
    "pipelines_from_config",
    "status_renderer",
]

if TYPE_CHECKING:  # the bay screen pulls in Starlette: only when [ui] is on
    from agent.ui.screen import BayScreen

log = logging.getLogger("baygate.runtime")

PipelinesFor = Callable[[Config], list[Pipeline]]


def _key_path(config: Config) -> Path | None:
    key = config.mqtt.key_file
    if key is None:
        return None
    if key.reference.startswith("file:"):
        return Path(key.reference[5:])  # relative: resolved under $CREDENTIALS_DIRECTORY
    # inline / env: paho needs a file; keep it private in the state dir
    path = config.agent.state_dir / "mqtt-client-key.pem"
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(key.reveal())
    return path


def link_settings(config: Config, **overrides: Any) -> LinkSettings:
    m, a = config.mqtt, config.agent
    tls = None
    if m.url.startswith("mqtts://") or m.ca_file or m.cert_file:
        tls = TlsFiles(ca_file=m.ca_file, cert_file=m.cert_file, key_file=_key_path(config))
    settings = LinkSettings(
        url=m.url,
        client_id=m.client_id or f"baygate-{a.shop_id}-{a.agent_id}",
        base_topic=agent_topic(a.shop_id, a.agent_id),
        username=m.username,
        password=m.password.reveal() if m.password else None,
        tls=tls,
        keepalive_s=m.keepalive_s,
        inflight=m.inflight,
        ack_retention_s=m.ack_retention_s,
        auth_key=_auth_key(config),
    )
    return replace(settings, **overrides)


def disk_limits(config: Config) -> DiskLimits:
    a = config.agent
    mb = 1 << 20
    return DiskLimits(
        low_bytes=int(a.disk_low_mb * mb),
        critical_bytes=int(a.disk_critical_mb * mb),
        reserve_bytes=int(a.disk_reserve_mb * mb),
    )


def _auth_key(config: Config) -> bytes | None:
    secret = config.mqtt.auth_key
    if secret is None:
        return None
    try:
        return decode_key(secret.reveal(), f"mqtt.auth_key ({secret.reference})")
    except AuthKeyError as exc:
        raise ConfigError("mqtt.auth_key", str(exc)) from None


def status_renderer(
    config: Config,
    config_version: Callable[[], str | None] = lambda: None,
    health: HealthRegistry | None = None,
) -> StatusRender:
    """The birth / Last Will body. With `health`, the checks at connect time go along
    (`dongle:NAME`, `camera:NAME`, `link` ...): what `baygate fleet status` shows per agent."""
    a = config.agent

    def render(seq: int, epoch: str, info: StatusInfo) -> bytes:
        body: dict[str, Any] = {
            "state": info.state,
            "version": __version__,
            "config_version": config_version(),
            "session": info.session,
            "outbox_depth": info.outbox_depth,
            "oldest_pending_s": info.oldest_pending_s,
            "acked_through": info.acked_through,
        }
        if health is not None:
            doc = health.evaluate()
            body["checks"] = {name: res[0]["status"] for name, res in doc["checks"].items()}
        rec = build_record(
            "status", body, shop=a.shop_id, agent=a.agent_id, epoch=epoch, seq=seq, ts=utcnow()
        )
        return rec.model_dump_json().encode()

    return render


def pipelines_from_config(
    config: Config,
    health: HealthRegistry | None = None,
    vehicles: dict[str, Any] | None = None,
    *,
    metrics: AgentMetrics | None = None,
    **vehicle_kw: Any,
) -> list[Pipeline]:
    """The pipelines this config asks for: every dongle, camera and the enrichment
    service, run together by `agent.pipelines.wiring.agent_pipeline` (which fills `vehicles`).
    `vehicle_kw` goes to each `vehicle_session_for` (`run --simulated-ble`: the bleak backends)."""
    if not (config.obd.dongles or config.cameras or config.enrich.enabled):
        return []
    from agent.pipelines.wiring import agent_pipeline  # heavy (OpenCV, bleak): only when needed

    return [agent_pipeline(config, health, vehicles, metrics=metrics, **vehicle_kw)]


class Runtime:
    def __init__(
        self,
        config: Config,
        pipelines: Sequence[Pipeline] = (),
        *,
        pipelines_for: Callable[[Config], list[Pipeline]] | None = None,
        health: HealthRegistry | None = None,
        api: bool = False,
        vehicles: dict[str, Any] | None = None,
        metrics: AgentMetrics | None = None,
        **link_overrides: Any,
    ) -> None:
        """`pipelines` run as given; `pipelines_for` builds them from the config instead,
        which enables remote configuration (the `config` command restarts them)."""
        self.config = config
        self.pipelines = list(pipelines)
        self.health = health or HealthRegistry(version=__version__)
        self.reconfigurer: Reconfigurer | None = None
        if pipelines_for is not None:
            self.reconfigurer = Reconfigurer(
                config, self._guarding(pipelines_for), self.health, RemoteStore(config.agent.state_dir),
                on_rollback=self._rolled_back,
            )  # fmt: skip
        # Stages backend-ordered releases for the privileged upgrade unit (signed commands only).
        self.upgrader = Upgrader(
            config.agent.state_dir,
            __version__,
            min_free_bytes=disk_limits(config).low_bytes,
            on_result=self._upgrade_result,
        )
        self.api = api  # serve /health and /metrics ([api] bind/port), and the bay screen ([ui])
        self.vehicles = vehicles if vehicles is not None else {}  # dongle -> session (post-scans)
        self.metrics = metrics  # the pipelines' parts already in it, when given
        self.link_overrides = link_overrides
        self.outbox: Outbox | None = None
        self.link: Link | None = None
        self.sink: OutboxSink | None = None
        self.guard: DiskGuard | None = None
        self.on_failure: Callable[[BaseException], object] = lambda exc: None

    async def run(self) -> None:
        a = self.config.agent
        guard = DiskGuard(a.state_dir, disk_limits(self.config))
        await asyncio.to_thread(a.state_dir.mkdir, parents=True, exist_ok=True)
        await asyncio.to_thread(guard.ensure_reserve)  # best effort: not on a full disk
        self.guard = guard
        rc = self.reconfigurer
        if rc is not None:
            rc.load_kept()
        async with Outbox(a.state_dir / "outbox.sqlite3", on_full=guard.release) as outbox:
            channel = CommandChannel()
            sink = OutboxSink(outbox, shop=a.shop_id, agent=a.agent_id)

            async def on_rejected(seq: int, topic: str, size: int, limit: int) -> None:
                await sink.alert(
                    "warning",
                    "record_rejected",
                    f"record seq {seq} on {topic} ({size} bytes) is over the broker's maximum packet "
                    f"size {limit}: kept in the outbox's rejected table, its seq sent as a tombstone",
                )

            link = Link(
                outbox,
                link_settings(self.config, **self.link_overrides),
                status=status_renderer(self.config, lambda: rc.version if rc else None, self.health),
                commands=channel,
                on_rejected=on_rejected,
            )
            register_commands(
                channel, link, rc, authenticated=self.config.mqtt.auth_key is not None, upgrader=self.upgrader
            )
            self.outbox, self.link, self.sink = outbox, link, sink
            log.info(
                "agent %s/%s running: outbox epoch %s, remote config %s",
                a.shop_id,
                a.agent_id,
                outbox.epoch,
                (rc.version if rc else None) or "none",
            )
            self.health.register("link", lambda: self._link_check(link))
            self.health.register("disk", disk_check(guard, sink), restart_helps=False)
            async with contextlib.AsyncExitStack() as stack, asyncio.TaskGroup() as tg:
                if self.api:
                    screen = await self._serve_web(stack, sink, link=link, outbox=outbox, guard=guard)
                    if screen is not None:  # only once its server listens
                        tg.create_task(self._guarded("bay screen", screen.run()))
                tg.create_task(self._guarded("link", link.run()))
                tg.create_task(self._guarded("disk monitor", watch_disk(guard, outbox, sink)))
                tg.create_task(self._guarded("upgrader", self.upgrader.run()))
                for i, p in enumerate(self.pipelines):
                    tg.create_task(self._guarded(f"pipeline {i}", p(sink)))
                if rc is not None:
                    rc.start(tg, sink)
                # The outbox is open and every task started: records are taken from now on.
                notify("READY=1")
                interval = watchdog_interval_s()
                if interval is not None:
                    tg.create_task(self._guarded("watchdog", watchdog(self.health, interval)))

    async def _serve_web(
        self,
        stack: contextlib.AsyncExitStack,
        sink: OutboxSink,
        *,
        link: Link,
        outbox: Outbox,
        guard: DiskGuard,
    ) -> BayScreen | None:
        """/health and /metrics on [api], and the bay screen (on the same server, or
        on its own when [ui] names another bind/port); the screen to run, if any."""
        metrics = self.metrics or AgentMetrics(version=__version__)
        metrics.up.set(1)
        metrics.registry.register(LinkCollector(link))
        metrics.registry.register(OutboxCollector(outbox))
        metrics.registry.register(DiskCollector(guard, sink))
        api, ui_cfg = self.config.api, self.config.ui
        ui = None
        if ui_cfg.enabled:  # the bay screen (agent/ui): fed by every committed record
            from agent.ui.app import open_bay_screen

            ui = await open_bay_screen(self.config, sink, health=self.health, vehicles=self.vehicles)
            stack.push_async_callback(ui.aclose)
            sink.on_commit = ui.screen.on_commit
        ui_at = (ui_cfg.bind or api.bind, api.port if ui_cfg.port is None else ui_cfg.port)
        shared = ui is not None and ui_at == (api.bind, api.port)
        try:
            await stack.enter_async_context(
                serve_api(self.health, metrics.registry, api.bind, api.port,
                          ui=ui.routes if shared and ui else None,
                          before_stop=ui.screen.hub.close if ui else None)
            )  # fmt: skip
        except OSError as exc:  # e.g. another agent holds the port: one line, exit 1
            raise _cannot_listen("/health", api.bind, api.port, "api", exc) from None
        if ui is not None and not shared:
            try:
                await stack.enter_async_context(
                    serve_api(None, None, *ui_at, ui=ui.routes, before_stop=ui.screen.hub.close)
                )
            except OSError as exc:
                raise _cannot_listen("the bay screen", *ui_at, "ui", exc) from None
        return ui.screen if ui is not None else None

    def _guarding(self, pipelines_for: PipelinesFor) -> PipelinesFor:
        """The reconfigurer's pipelines, each run through `_guarded` like the rest."""

        def guarded(config: Config) -> list[Pipeline]:
            def one(i: int, p: Pipeline) -> Pipeline:
                return lambda sink: self._guarded(f"pipeline {i}", p(sink))

            return [one(i, p) for i, p in enumerate(pipelines_for(config))]

        return guarded

    async def _guarded(self, name: str, coro: Coroutine[Any, Any, None]) -> None:
        """Run one long-lived task; if it fails, say so once and start the bounded
        shutdown before the TaskGroup cancels the others (which may not all stop)."""
        try:
            await coro
        except Exception as exc:
            log.error("%s failed: %s: %s", name, type(exc).__name__, exc, exc_info=exc)
            self.on_failure(exc)
            raise

    async def _rolled_back(self, answer: Answer) -> None:
        # The backend hears of a late rollback through the durable record stream.
        if self.sink is not None:
            await self.sink.emit("alert", {
                "severity": "warning", "code": "config_rolled_back",
                "message": f"remote config {answer.version} rolled back: {answer.error}",
            })  # fmt: skip

    async def _upgrade_result(self, result: dict[str, Any]) -> None:
        # Durable: the backend hears the outcome even if no `fleet upgrade` is waiting.
        if self.sink is None:
            return
        version, status = result.get("version"), result.get("status")
        if status == "ok":
            alert = ("info", "upgrade_ok", f"upgraded {result.get('from')} -> {version}")
        else:
            lines = [ln for ln in str(result.get("detail") or "").splitlines() if ln.strip()]
            why = lines[-1][:300] if lines else "no detail"
            alert = ("warning", "upgrade_failed", f"upgrade to {version} {status}: {why}")
        await self.sink.emit("alert", dict(zip(("severity", "code", "message"), alert, strict=True)))

    @staticmethod
    def _link_check(link: Link) -> tuple[Status, str]:
        # Offline is a normal state for a shop's Wi-Fi (the outbox keeps everything): warn.
        if link.connected:
            return "pass", "connected"
        return "warn", f"disconnected: {link.last_error or 'connecting'}"


def _cannot_listen(what: str, host: str, port: int, section: str, exc: OSError) -> AgentError:
    reason = os.strerror(exc.errno) if exc.errno else str(exc)
    return AgentError(f"cannot serve {what} on {host}:{port} ({section}.bind, {section}.port): {reason}")


def run_until_signalled(runtime: Runtime, bound_s: float = SHUTDOWN_BOUND_S) -> None:
    """Run until SIGTERM/SIGINT; a clean stop disconnects with the Last Will. A failed
    task raises AgentError (one line; the traceback is in the log); either way the
    process is gone within `bound_s` of the stop starting (`agent.service.shutdown`)."""
    deadline = ShutdownDeadline(bound_s)
    runtime.on_failure = lambda exc: deadline.start(f"task failed: {type(exc).__name__}: {exc}")

    async def main() -> None:
        task = asyncio.current_task()
        loop = asyncio.get_running_loop()
        assert task is not None
        # asyncio.to_thread's workers get a name in thread dumps, py-spy and logs.
        loop.set_default_executor(ThreadPoolExecutor(thread_name_prefix="baygate-worker"))

        def on_signal(name: str) -> None:
            log.info("%s received: stopping (undelivered records stay in the outbox)", name)
            if not deadline.start(name):
                deadline.again(name)
            task.cancel()

        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, on_signal, sig.name)
        with contextlib.suppress(asyncio.CancelledError):
            await runtime.run()
        log.info("agent stopped")

    try:
        asyncio.run(main())
    except Exception as exc:  # a task failed: the TaskGroup's ExceptionGroup
        deadline.start("task failed")
        first = _first_error(exc)
        if isinstance(first, AgentError):  # ours: it already says what is wrong (a
            raise first from None  # ConfigError keeps its exit 2 and the key it names)
        raise AgentError(f"stopped: a task failed: {type(first).__name__}: {first}") from None
    finally:
        deadline.cancel()


def _first_error(exc: BaseException) -> BaseException:
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return exc
