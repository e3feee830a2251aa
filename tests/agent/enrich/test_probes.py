"""Scheduled connector health checks against the NHTSA and manufacturer simulators
(real HTTP on loopback), with the simulators' own faults: 503, a hang, a reset."""

from __future__ import annotations

import pytest

from agent.config import SHIPPED_MANUFACTURERS, EnrichSection, NhtsaSection
from agent.enrich.connectors.spec import load_connectors
from agent.enrich.probes import ProbeResult, Probes, probe_targets
from simulators.services.manufacturer import ManufacturerApp
from simulators.services.server import ServiceServer
from simulators.services.vpic import NhtsaApp

pytestmark = pytest.mark.anyio


async def test_probes_follow_the_services_up_down_and_up_again() -> None:
    changes: list[tuple[str, bool, str]] = []

    async def on_change(name: str, res: ProbeResult) -> None:
        changes.append((name, res.up, res.detail))

    with ServiceServer(NhtsaApp(), hang_s=3.0) as nhtsa, ServiceServer(ManufacturerApp()) as maker:
        section = EnrichSection(
            nhtsa=NhtsaSection().serving_both_at(nhtsa.url), manufacturer_base_url=maker.url + "/"
        )
        targets = probe_targets(section, load_connectors(SHIPPED_MANUFACTURERS))
        # NHTSA's two services and every shipped connector with an API method
        assert {"nhtsa.vpic", "nhtsa.recalls", "manufacturer.dell", "manufacturer.hp"} <= set(targets)
        assert all(not n.startswith("manufacturer.apple") for n in targets)  # no API: manual assist only
        probes = Probes(targets, timeout_s=1.0, on_change=on_change)

        first = await probes.probe_once()
        assert all(r.up for r in first.values()), first
        assert first["nhtsa.vpic"].detail == "HTTP 200"
        assert changes == []  # up at start is not news
        assert nhtsa.stats()["by_path"].get("/api/vehicles/DecodeWMI/1FT") == 1

        nhtsa.plan.configure({"persistent": "503"})
        await probes.probe_once()
        assert sorted(changes) == [("nhtsa.recalls", False, "HTTP 503"), ("nhtsa.vpic", False, "HTTP 503")]
        assert probes.results["manufacturer.dell"].up  # another host, unaffected

        changes.clear()
        nhtsa.plan.configure({"persistent": "timeout"})
        await probes.probe_once()
        assert changes == []  # still down: no new alert
        assert probes.results["nhtsa.vpic"].detail == "timeout after 1.0 s"

        nhtsa.plan.configure({"persistent": None})
        await probes.probe_once()
        assert sorted(n for n, up, _ in changes if up) == ["nhtsa.recalls", "nhtsa.vpic"]


async def test_an_unreachable_service_is_down_at_the_first_probe(port: int) -> None:
    changes: list[str] = []

    async def on_change(name: str, res: ProbeResult) -> None:
        changes.append(f"{name} {res.up}")

    target = {"nhtsa.vpic": f"http://127.0.0.1:{port}/api/vehicles/"}
    probes = Probes(target, timeout_s=1.0, on_change=on_change)
    res = await probes.probe_once()
    assert not res["nhtsa.vpic"].up and res["nhtsa.vpic"].detail.startswith("ConnectError")
    assert changes == ["nhtsa.vpic False"]
