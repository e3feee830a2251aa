"""Records for bay screen tests, made by the real producers: the vehicle pipeline's
report built from the ELM327 simulator (before and after a Mode 04 clear), and the
telemetry batch the vehicle session emits. Never hand-built dicts."""

from __future__ import annotations

from dataclasses import dataclass

from agent.pipelines.sink import RecordSink
from agent.pipelines.vehicle import read_report, report_body
from agent.records import VehicleReportRecord
from drivers.obd2.session import Session
from drivers.obd2.transports import transport_for_url
from simulators.elm327 import serve_tcp
from tests.support.obd import FAST


@dataclass
class Scans:
    pre: VehicleReportRecord
    post: VehicleReportRecord


async def pre_and_post(sink: RecordSink, *, profile: str = "petrol-can", dongle: str = "bay1-vlink") -> Scans:
    """Emit a report, clear the codes with Mode 04 as a technician's tool would, emit
    the report again."""
    async with serve_tcp(profile=profile, timing=FAST) as srv:
        s = Session(lambda: transport_for_url(srv.url), dongle=dongle, timeout=2.0)
        await s.connect()
        try:
            pre = await sink.emit("vehicle_report", report_body(dongle, await read_report(s)))
            await s.command("04")
            post = await sink.emit("vehicle_report", report_body(dongle, await read_report(s)))
        finally:
            await s.close()
    assert isinstance(pre, VehicleReportRecord) and isinstance(post, VehicleReportRecord)
    return Scans(pre, post)
