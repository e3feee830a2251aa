"""A vehicle session: a dongle connects -> VIN, DTCs, readiness, freeze frame -> one
vehicle_report record -> live PIDs as telemetry records, about one per second.

The driver (drivers.obd2) knows nothing of records; this module turns its typed
readings into record bodies and emits them through the RecordSink (the outbox in the
agent, a MemorySink in tests and print-only commands). A dongle that vanishes is
reconnected with backoff; the report is emitted again only when the car changed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from agent.config import DongleConfig, ObdSection
from agent.pipelines.dtc_clear import ClearOutcome, clear_and_check, dtc_list
from agent.pipelines.sink import RecordRefusedError, RecordSink
from agent.pipelines.telemetry_pressure import downsample
from agent.records import Envelope, utcnow
from drivers.obd2 import diagnostics as diag
from drivers.obd2.errors import OBDError
from drivers.obd2.pids import PID, lookup
from drivers.obd2.report import PROTOCOL_NAMES, VehicleReport, read_report
from drivers.obd2.scheduler import PidScheduler, Sample, poll
from drivers.obd2.session import LinkState, Session
from drivers.obd2.store import DongleMemory, DongleStore, JsonFileStore
from drivers.obd2.transports import Transport, transport_for_url
from resilience import Backoff, BackoffPolicy

__all__ = [
    "PROTOCOL_NAMES",
    "VehicleReport",
    "VehicleSession",
    "dongle_store",
    "read_report",
    "report_body",
    "report_json",
    "sample_json",
    "vehicle_session_for",
]

log = logging.getLogger("baygate.vehicle")

# What went wrong, newest last: a dongle left unplugged is retried every 30 s (the
# backoff's cap), 2,880 errors a day that a list kept for as long as the agent ran.
MAX_ERRORS = 100

# A clear is ~8 OBD requests (3 DTC reads, RPM, 04, 3 DTC reads): at the full report's
# ~20 requests in ~1 s on CAN over Wi-Fi, ~6 s over BLE with a slow ISO 9141 car
# (bench/obd.py, agent/ui/screen.py POST_SCAN_S), ~0.4 s and ~2.5 s. Past this the
# technician is told it failed rather than left waiting; the fresh report after it has
# the same bound.
CLEAR_S = 20.0


def vehicle_session_for(
    dongle: DongleConfig,
    obd: ObdSection,
    sink: RecordSink,
    state_dir: Path,
    *,
    ble_backend: Any = None,
    ble_scanner_backend: Any = None,
    pressure: Callable[[], bool] | None = None,
) -> VehicleSession:
    """The vehicle session for one configured dongle (what `baygate run` starts per dongle).

    `dongle.profile` names the GATT layout of a BLE dongle (fff0, ffe0, 18f0, e781, nus).
    The bleak backends replace BlueZ for `ble://` URLs (`run --simulated-ble`).
    """
    url = dongle.url
    if dongle.profile and url.startswith("ble://") and "layout=" not in url:
        url += ("&" if "?" in url or url.startswith("ble://name=") else "?") + f"layout={dongle.profile}"
    return VehicleSession(
        dongle.name,
        url,
        sink,
        pids=list(obd.telemetry_pids),
        hz=obd.telemetry_hz,
        store=dongle_store(state_dir),
        command_timeout_s=obd.command_timeout_s,
        transport_factory=lambda: transport_for_url(
            url, ble_backend=ble_backend, ble_scanner_backend=ble_scanner_backend
        ),
        pressure=pressure,
    )


def dongle_store(state_dir: Path) -> DongleStore:
    """Where dongles are remembered (protocol, quirks) across restarts."""
    return _CacheOnFullDisk(JsonFileStore(state_dir / "obd-dongles.json"))


class _CacheOnFullDisk:
    """The dongle memory is a cache: on a full disk (ENOSPC) it is not saved, and the
    vehicle session goes on instead of dying with an OSError."""

    def __init__(self, inner: DongleStore) -> None:
        self.inner = inner

    def get(self, dongle: str) -> DongleMemory | None:
        return self.inner.get(dongle)

    def put(self, dongle: str, memory: DongleMemory) -> None:
        try:
            self.inner.put(dongle, memory)
        except OSError as exc:
            log.warning("%s: dongle memory not saved: %s", dongle, exc.strerror or exc)


def _freeze(ff: diag.FreezeFrameData | None, with_ts: bool = False) -> dict[str, Any] | None:
    if ff is None:
        return None
    return {
        "frame": ff.frame,
        "dtc": ff.dtc,
        "values": [{"pid": r.pid.name, "value": r.value, "unit": r.pid.unit} for r in ff.values],
    }


def report_json(rep: VehicleReport) -> dict[str, Any]:
    """The `baygate obd read --json` object."""
    return {
        "vin": rep.vin,
        "protocol": rep.protocol,
        "ecus": rep.ecus,
        "dtcs": {mode: dtc_list(rep.dtcs.get(mode, []), False) for mode in diag.DTC_MODES},
        "readiness": rep.readiness.as_dict() if rep.readiness else None,
        "freeze_frame": _freeze(rep.freeze_frame),
        "ecu_info": [i.as_dict() for i in rep.ecu_info],
        "monitor_tests": [t.as_dict() for t in rep.monitor_tests],
    }


def report_body(dongle: str, rep: VehicleReport) -> dict[str, Any]:
    """The body of a vehicle_report record."""
    return {
        "dongle": dongle,
        "vin": rep.vin if rep.vin_valid or rep.vin else None,
        "vin_valid": rep.vin_valid,
        "protocol": rep.protocol,
        "ecus": rep.ecus,
        "dtcs": {mode: dtc_list(rep.dtcs.get(mode, []), True) for mode in diag.DTC_MODES},
        "readiness": rep.readiness.as_dict() if rep.readiness else None,
        "freeze_frame": _freeze(rep.freeze_frame),
        "calibration_ids": rep.calibration_ids,
        "ecu_info": [i.as_dict() for i in rep.ecu_info],
        "monitor_tests": [t.as_dict() for t in rep.monitor_tests],
        "errors": rep.errors,
    }


def sample_json(sample: Sample, ts: datetime) -> dict[str, Any]:
    r = sample.reading
    return {"pid": r.pid.name, "value": r.value, "unit": r.pid.unit, "ts": ts.isoformat()}


@dataclass
class VehicleStats:
    connects: int = 0
    reports: int = 0
    telemetry_records: int = 0
    samples: int = 0
    downsampled: int = 0  # telemetry samples left out under outbox pressure
    link_losses: int = 0
    refused: int = 0  # vehicle reports refused (disk full)
    shed: int = 0  # telemetry samples shed (disk low)
    errors: deque[str] = field(default_factory=lambda: deque(maxlen=MAX_ERRORS))  # the newest
    errors_dropped: int = 0  # older errors let go of

    def error(self, message: str) -> None:
        if len(self.errors) == self.errors.maxlen:
            self.errors_dropped += 1
        self.errors.append(message)


class VehicleSession:
    """One dongle, for as long as it runs: connect, report, stream, reconnect."""

    def __init__(
        self,
        name: str,
        url: str,
        sink: RecordSink,
        *,
        pids: list[str],
        hz: float | None = 1.0,
        store: DongleStore | None = None,
        command_timeout_s: float = 2.0,
        transport_factory: Callable[[], Transport] | None = None,
        batch_s: float = 1.0,
        sleep: Callable[[float], Any] = asyncio.sleep,
        clock: Callable[[], float] = time.monotonic,
        on_state: Callable[[LinkState], None] | None = None,
        backoff: Backoff | None = None,
        pressure: Callable[[], bool] | None = None,
    ) -> None:
        self.name, self.url, self.sink = name, url, sink
        self.pressure = pressure  # outbox under pressure: telemetry is sampled down
        # Between connects, whatever ended the last one: a dongle that accepts and
        # drops at once is retried at 0.5, 1, 2 ... 30 s, not ~100 times a second.
        self.backoff = backoff or Backoff(BackoffPolicy(first_s=0.5, cap_s=30.0), clock=clock)
        self.pids: list[PID] = [lookup(p) for p in pids]
        self.hz = hz
        self.batch_s = batch_s
        self._clock = clock
        self._sleep = sleep
        factory = transport_factory or (lambda: transport_for_url(url))
        # One backoff for the loop and the session: connect() marks it up, the loop waits.
        self.session = Session(
            factory,
            dongle=name,
            store=store,
            timeout=command_timeout_s,
            sleep=sleep,
            on_state=on_state,
            backoff=self.backoff,
        )
        self.stats = VehicleStats()
        self.vin: str | None = None
        self.report: VehicleReport | None = None

    async def run(self, *, stop: asyncio.Event | None = None, max_connect_attempts: int = 1_000_000) -> None:
        """Run until `stop` is set (or forever). Never raises for a dongle that comes and goes."""
        stop = stop or asyncio.Event()
        failed_connects, connected_once = 0, False
        while not stop.is_set():
            try:
                if connected_once:  # this loop waited the backoff already
                    await self.session.reconnect(attempts=1, wait_first=False)
                else:
                    await self.session.connect()
            except OBDError as exc:
                failed_connects += 1
                self.stats.error(str(exc))
                if failed_connects >= max_connect_attempts:
                    return
                delay = self.backoff.next_delay()
                log.warning("%s: cannot connect (%s); retrying in %.1f s", self.name, exc, delay)
                await _wait(stop, delay)
                continue
            failed_connects, connected_once = 0, True  # later connects use a fresh transport
            self.backoff.up()
            self.stats.connects += 1
            lost: OBDError | None = None
            try:
                await self._connected(stop)
            except OBDError as exc:
                lost = exc
                self.stats.link_losses += 1
                self.stats.error(str(exc))
            finally:
                await self.session.transport.close()
            if not stop.is_set():  # lost, or ended by itself: either way, not healthy
                delay = self.backoff.next_delay()
                log.warning("%s: link lost: %s; reconnecting in %.1f s", self.name, lost or "ended", delay)
                await _wait(stop, delay)

    async def _connected(self, stop: asyncio.Event) -> None:
        report = await read_report(self.session)
        self.report = report
        if self.stats.reports == 0 or report.vin != self.vin:
            self.vin = report.vin
            body = report_body(self.name, report)
            try:
                await self.sink.emit("vehicle_report", body)
            except RecordRefusedError as exc:  # disk full: not taken; read again next connect
                self.vin = None
                self.stats.refused += 1
                log.error("%s: %s", self.name, exc)
            else:
                self.stats.reports += 1
                stored = sum(len(d) for d in body["dtcs"].values())
                log.info(
                    "%s: vehicle report: VIN %s (%s), protocol %s, %d ECUs, %d DTCs",
                    self.name, report.vin or "unknown", "valid" if report.vin_valid else "not valid",
                    report.protocol or "unknown", len(report.ecus), stored,
                )  # fmt: skip
        await self._stream(stop)

    async def rescan(self) -> str | None:
        """A fresh full report now, emitted even for the same car (the bay screen's
        post-scan); its record id, or None when no car is connected."""
        if self.session.state is not LinkState.READY:
            return None
        # Its commands interleave with the PID polling under the session's lock.
        self.report = await read_report(self.session)
        rec = await self.sink.emit("vehicle_report", report_body(self.name, self.report))
        self.stats.reports += 1
        return rec.id

    async def clear_codes(self, *, within_s: float = CLEAR_S) -> Envelope:
        """Mode 04 on this session's live link (the bay screen's button), recorded as a
        dtc_clear record whatever the outcome; after a clear, a fresh report follows so
        the screen shows what the car reports now. Returns the dtc_clear record."""
        vin = self.report.vin if self.report is not None else self.vin
        state = self.session.state
        if state is not LinkState.READY:
            done = ClearOutcome("failed", f"no car connected (dongle {state.value})", {})
        else:
            try:
                async with asyncio.timeout(within_s):
                    done = await clear_and_check(self.session, confirm=True)
            except TimeoutError:
                done = ClearOutcome("failed", f"no answer within {within_s:g} s", {})
            except OBDError as exc:  # the link failed on the way: the loop reconnects
                done = ClearOutcome("failed", str(exc), {})
        rec = await self.sink.emit("dtc_clear", done.body(self.name, vin))
        log.info("%s: clear codes: %s%s", self.name, done.outcome, f" ({done.reason})" if done.reason else "")
        if done.outcome != "refused":
            try:
                async with asyncio.timeout(within_s):
                    await self.rescan()
            except (TimeoutError, OBDError) as exc:  # recorded already; the next connect reports
                log.warning("%s: no fresh report after the clear: %s", self.name, exc or "timed out")
        return rec

    async def _stream(self, stop: asyncio.Event) -> None:
        supported = set().union(*self.session.supported.values()) if self.session.supported else set()
        pids = [p for p in self.pids if p.code in supported] or self.pids
        scheduler = PidScheduler(dict.fromkeys(pids, self.hz))
        batch: list[dict[str, Any]] = []

        async def consume() -> None:
            nonlocal batch
            started = self._clock()
            async with contextlib.aclosing(poll(self.session, scheduler, clock=self._clock)) as stream:
                async for samples in stream:
                    now = utcnow()
                    batch.extend(sample_json(s, now) for s in samples)
                    if self._clock() - started >= self.batch_s:
                        # Cleared only once emitted: a stop during the emit re-sends the
                        # batch at the end (at-least-once) rather than losing it.
                        await self._flush(batch)
                        batch = []
                        started = self._clock()

        consumer = asyncio.create_task(consume())
        stopper = asyncio.create_task(stop.wait())
        try:
            await asyncio.wait({consumer, stopper}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopper.cancel()
            if not consumer.done():
                consumer.cancel()
            await asyncio.gather(consumer, stopper, return_exceptions=True)
            if batch:  # what was read before the stop or the loss still goes out
                await self._flush(batch)
        if not consumer.cancelled() and (exc := consumer.exception()) is not None:
            raise exc

    async def _flush(self, batch: list[dict[str, Any]]) -> None:
        body: dict[str, Any] = {"dongle": self.name, "vin": self.vin, "samples": batch}
        if self.pressure is not None and self.pressure():
            kept = downsample(batch)
            self.stats.downsampled += len(batch) - len(kept)
            body.update(samples=kept, sampled_down=True)
        try:
            await self.sink.emit("telemetry", body)
        except RecordRefusedError:  # shed under disk pressure: counted by the sink
            self.stats.shed += len(batch)
            return
        self.stats.telemetry_records += 1
        self.stats.samples += len(batch)


async def _wait(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(seconds):
            await stop.wait()


def summary(stats: VehicleStats) -> Mapping[str, Any]:
    return {
        "connects": stats.connects,
        "reports": stats.reports,
        "telemetry_records": stats.telemetry_records,
        "samples": stats.samples,
        "link_losses": stats.link_losses,
    }
