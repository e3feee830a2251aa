"""The enrichment service says what it does: each result one INFO line, each deferral
one WARNING (the real NHTSA simulator as the remote, a fake clock for time)."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from agent.pipelines.sink import MemorySink
from simulators.services.server import ServiceServer
from tests.agent.enrich.test_service import SILVERADO, service
from tests.support.enrich import FakeClock, faults

pytestmark = pytest.mark.anyio


async def test_results_are_info_lines_and_deferrals_warnings(
    anyio_backend: str,
    nhtsa_server: ServiceServer,
    clock: FakeClock,
    state_dir: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="baygate.enrich")
    sink = MemorySink()
    faults(nhtsa_server, persistent="503:0")
    async with service(nhtsa_server, clock, state_dir, sink) as svc:
        await svc.vin("scan-1", SILVERADO)
        await svc.work_once()
    deferred = [r for r in caplog.records if "deferred" in r.getMessage()]
    assert len(deferred) == 1 and deferred[0].levelno == logging.WARNING
    assert deferred[0].getMessage().startswith("enrichment vin for scan-1 deferred ")
    caplog.clear()
    faults(nhtsa_server, persistent=None)
    clock.advance(3600)
    async with service(nhtsa_server, clock, state_dir, sink) as svc:
        for _ in range(3):
            await svc.work_once()
    results = [r.getMessage() for r in caplog.records if r.levelno == logging.INFO]
    assert "enrichment nhtsa.vpic for scan-1: ok" in results
    assert "enrichment nhtsa.recalls for scan-1: ok" in results
