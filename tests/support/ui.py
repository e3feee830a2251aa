"""Records for bay screen tests, made by the real producers: the vehicle pipeline's
report built from the ELM327 simulator (before and after a Mode 04 clear), and the
telemetry batch the vehicle session emits. Never hand-built dicts."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from agent.records import VehicleReportRecord
from agent.sink import RecordSink
from agent.vehicle import read_report, report_body
from drivers.obd2.session import Session
from drivers.obd2.transports import transport_for_url
from simulators.elm327 import serve_tcp
from tests.support.obd import FAST


@dataclass
class Scans:
    pre: VehicleReportRecord
    post: VehicleReportRecord


async def pre_and_post(
    sink: RecordSink, records: Sequence[object], *, profile: str = "petrol-can", dongle: str = "bay1-vlink"
) -> Scans:
    """Emit a report, clear the codes with Mode 04 as a technician's tool would, emit
    the report again. `records` is where the sink keeps what it validated."""
    async with serve_tcp(profile=profile, timing=FAST) as srv:
        s = Session(lambda: transport_for_url(srv.url), dongle=dongle, timeout=2.0)
        await s.connect()
        try:
            await sink.emit("vehicle_report", report_body(dongle, await read_report(s)))
            pre = records[-1]
            await s.command("04")
            await sink.emit("vehicle_report", report_body(dongle, await read_report(s)))
            post = records[-1]
        finally:
            await s.close()
    assert isinstance(pre, VehicleReportRecord) and isinstance(post, VehicleReportRecord)
    return Scans(pre, post)
