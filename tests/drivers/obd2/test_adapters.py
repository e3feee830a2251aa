"""Every adapter personality x every vehicle profile x every transport (tcp, pty, fake
BLE) through read, watch and reconnect (issue 14 items 1-2).

The personalities (simulators/elm327/adapters.py) refuse optional commands, keep echo
on, refuse headers, dribble replies, end lines CR LF with NULs: init must degrade and
the data must still be right. After the first connect a refusal costs no round trip:
the warm reconnect never sends a command the dongle refused before.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import AsyncIterator, Callable

import pytest

from drivers.obd2 import diagnostics as diag
from drivers.obd2.adapter import identify
from drivers.obd2.errors import OBDError
from drivers.obd2.pids import BY_NAME
from drivers.obd2.report import read_report
from drivers.obd2.scheduler import PidScheduler, poll
from drivers.obd2.session import Quirk, Session
from drivers.obd2.store import MemoryStore
from drivers.obd2.transports import Transport, transport_for_url
from simulators.elm327 import ADAPTERS, fake_ble_backend, list_adapters, serve_pty, serve_tcp
from simulators.elm327.profile import Profile, load_profile
from tests.support.obd import FAST, PROFILES, QUICK_BACKOFF

pytestmark = pytest.mark.anyio

# Hundreds of requests go out without the count digit (headers refused, legacy buses):
# the adapter's 200 ms ATST wait, scaled down, keeps the behaviour but not the waiting.
MATRIX = dataclasses.replace(FAST, st_scale=0.1)
KIND = {
    "genuine-v1.4b": "elm327",
    "genuine-v1.2": "elm327",
    "stn2120": "stn",
}  # every other personality is a clone


@contextlib.asynccontextmanager
async def _dongle(transport: str, profile: str, adapter: str) -> AsyncIterator[Callable[[], Transport]]:
    if transport == "tcp":
        async with serve_tcp(profile=profile, timing=MATRIX, adapter=adapter) as srv:
            yield lambda: transport_for_url(srv.url)
    elif transport == "pty":
        async with serve_pty(profile=profile, timing=MATRIX, adapter=adapter) as pty:
            yield lambda: transport_for_url(pty.url)
    else:
        backend = fake_ble_backend(profile, layout="fff0", timing=MATRIX, adapter=adapter)
        yield lambda: transport_for_url("ble://AA:BB:CC:00:00:01", ble_backend=backend)


def _recording(factory: Callable[[], Transport], sent: list[str]) -> Callable[[], Transport]:
    def make() -> Transport:
        t = factory()
        write = t.write

        async def recorded(data: bytes) -> None:
            sent.append(data.decode("ascii").strip())
            await write(data)

        t.write = recorded  # type: ignore[method-assign]
        return t

    return make


def _check_report(car: Profile, report: object) -> None:
    from drivers.obd2.report import VehicleReport

    assert isinstance(report, VehicleReport)
    assert report.errors == []
    assert report.vin == car.vin and report.vin_valid
    for mode in diag.DTC_MODES:
        assert {d.code for d in report.dtcs[mode]} == {c for e in car.ecus for c in getattr(e, mode)}
    assert report.readiness is not None


@pytest.mark.parametrize("transport", ["tcp", "pty", "ble"])
@pytest.mark.parametrize("profile", PROFILES)
@pytest.mark.parametrize("adapter", list_adapters())
async def test_read_watch_reconnect(adapter: str, profile: str, transport: str) -> None:
    car = load_profile(profile)
    sent: list[str] = []
    store = MemoryStore()
    async with _dongle(transport, profile, adapter) as factory:
        s = Session(_recording(factory, sent), dongle="d", store=store, timeout=1.0, backoff=QUICK_BACKOFF)
        await s.connect()
        try:
            assert s.adapter.kind == KIND.get(adapter, "clone"), s.adapter
            _check_report(car, await read_report(s))
            # watch: live values keep coming, no errors
            errors: list[OBDError] = []
            pids = [BY_NAME["RPM"], BY_NAME["SPEED"]]
            values = 0
            async with contextlib.aclosing(
                poll(s, PidScheduler(dict.fromkeys(pids, None)), errors=errors)
            ) as st:
                async for samples in st:
                    values += len(samples)
                    if values >= 6:
                        break
            assert values >= 6 and errors == []
            # reconnect: warm, and nothing the adapter refused is asked again
            refused = set(s.refused)
            sent.clear()
            await s.reconnect(attempts=1)
            assert s.warm
            assert not refused & set(sent), f"asked again: {refused & set(sent)}"
            assert (await diag.read_vin(s))[0] == car.vin
        finally:
            await s.close()


# What each personality makes the driver learn: the refusals and quirks it remembers.
LEARNED = {
    "genuine-v1.4b": (set(), set()),
    "genuine-v1.2": ({"ATS0"}, {Quirk.NO_COUNT_DIGIT}),
    "clone-v1.5": ({"ATSPA6"}, set()),
    "clone-v2.1": ({"ATWS", "ATSPA6", "ATAT1", "ATST19"}, set()),
    "echo-stuck": (set(), {Quirk.ECHO_STUCK}),
    "headers-refused": ({"ATH1"}, {Quirk.NO_HEADERS}),
    "ble-dribble": ({"ATWS"}, set()),
    "crlf-nul": (set(), set()),
    "stn2120": (set(), set()),
}


def test_every_personality_has_an_expectation() -> None:
    assert set(LEARNED) == set(ADAPTERS)


@pytest.mark.parametrize("adapter", list_adapters())
async def test_refusals_are_learned_once_and_cost_nothing_after(adapter: str) -> None:
    """A refusal costs one round trip on the first connect (the fallback follows) and
    none after: the warm connect sends the fallback straight away."""
    refused, quirks = LEARNED[adapter]
    sent: list[str] = []
    async with _dongle("tcp", "petrol-can", adapter) as factory:
        s = Session(_recording(factory, sent), dongle="d", backoff=QUICK_BACKOFF)
        await s.connect()
        assert s.refused - {"STI"} == refused
        assert quirks <= s.quirks
        cold = list(sent)
        sent.clear()
        await s.reconnect(attempts=1)
        warm = list(sent)
        await s.close()
    assert "ATSP0" in cold if "ATSPA6" in refused else "ATSPA6" in cold
    assert "ATZ" in cold if "ATWS" in refused else "ATWS" in cold
    if "ATAT1" in refused:
        assert "ATST19" in cold  # the fixed-timing fallback was tried
    assert not (refused | {"STI"}) & set(warm)
    # warm connect: ATD, the settings that ATD reset, ATSP<n>, one 0100
    assert len([c for c in warm if c]) <= 8, warm


def test_identify_by_behaviour() -> None:
    assert identify("ELM327 v1.4b", "STN1110 v4.2.1", set()).family == "STN11xx"
    assert identify("ELM327 v1.4b", "STN2120 v5.6.19", set()).describe() == "STN2120 v5.6.19 (STN21xx)"
    assert identify("ELM327 v1.4b", "", set()).kind == "elm327"
    assert identify("ELM327 v2.1", "", set()).kind == "elm327"
    assert identify("ELM327 v2.1", "", {"ATWS"}).kind == "clone"  # v2.1 documents ATWS
    assert identify("ELM327 v1.1", "", {"ATAT1", "ATS0"}).kind == "elm327"  # too old for both
    assert identify("ELM327 v1.5", "", set()).kind == "clone"  # Elm never released v1.5
    assert identify("OBDII v1.0", "", set()).kind == "unknown"
