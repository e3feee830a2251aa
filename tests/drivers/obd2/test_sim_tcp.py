"""The driver against the ELM327 simulator over TCP: each profile, each fault mode."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import simulators.elm327 as sim_pkg
from drivers.obd2 import diagnostics as diag
from drivers.obd2.errors import ConnectFailed, DongleNotFound, LinkLost, NoData, OBDError
from drivers.obd2.pids import BY_NAME
from drivers.obd2.report import read_report
from drivers.obd2.session import LinkState, Quirk, Session
from drivers.obd2.store import MemoryStore
from drivers.obd2.transports import transport_for_url
from resilience import BackoffPolicy
from simulators.elm327 import serve_tcp
from simulators.elm327.profile import parse_profile
from tests.support.obd import FAST, PROFILES, QUICK_BACKOFF

pytestmark = pytest.mark.anyio


def _session(url: str, store: MemoryStore | None = None, timeout: float = 2.0) -> Session:
    return Session(
        lambda: transport_for_url(url),
        dongle="d1",
        store=store or MemoryStore(),
        timeout=timeout,
        backoff=QUICK_BACKOFF,
    )


@pytest.mark.parametrize("profile", PROFILES)
async def test_full_read_matches_the_profile(profile: str) -> None:
    async with serve_tcp(profile=profile, timing=FAST) as srv:
        car = srv.simulation.profile
        s = _session(srv.url)
        await s.connect()
        try:
            assert s.state is LinkState.READY
            vin, valid = await diag.read_vin(s)
            assert (vin, valid) == (car.vin, True)
            for mode in diag.DTC_MODES:
                got = {d.code for d in await diag.read_dtcs(s, mode)}
                assert got == {c for e in car.ecus for c in getattr(e, mode)}
            readiness = await diag.read_readiness(s)
            engine = car.ecus[0]
            assert readiness.dtc_count == len(engine.stored)
            assert readiness.ignition == engine.ignition
            ff = await diag.read_freeze_frame(s)
            if engine.freeze_frames:
                assert ff is not None and ff.dtc == engine.freeze_frames[0].dtc and ff.values
            readings = await diag.read_pids(s, [BY_NAME[n] for n in ("RPM", "SPEED", "COOLANT_TEMP")])
            assert {r.pid.name for r in readings} == {"RPM", "SPEED", "COOLANT_TEMP"}
        finally:
            await s.close()


async def test_second_connect_is_warm_and_skips_the_search() -> None:
    store = MemoryStore()
    async with serve_tcp(profile="petrol-can", timing=FAST) as srv:
        first = _session(srv.url, store)
        await first.connect()
        await first.close()
        assert store.get("d1") is not None and store.get("d1").protocol == "6"  # type: ignore[union-attr]
        second = _session(srv.url, store)
        await second.connect()
        assert second.warm and second.protocol == "6" and second.ecus == first.ecus
        await second.close()


async def test_cached_protocol_of_another_car_falls_back_to_search() -> None:
    store = MemoryStore()
    async with serve_tcp(profile="iso9141-legacy", timing=FAST) as legacy:
        s = _session(legacy.url, store)
        await s.connect()
        await s.close()
    async with serve_tcp(profile="petrol-can", timing=FAST) as can:
        s = _session(can.url, store)
        await s.connect()  # the dongle moved to a CAN car: ATSP3 fails, ATSP0 finds 6
        assert s.protocol == "6"
        assert (await diag.read_vin(s))[0] == can.simulation.profile.vin
        await s.close()


async def test_refused_port_is_dongle_not_found(port: int) -> None:
    s = _session(f"tcp://127.0.0.1:{port}")
    with pytest.raises(DongleNotFound):
        await s.connect()


async def test_silent_adapter_fails_within_the_deadline() -> None:
    async with serve_tcp(faults=["silent"], timing=FAST) as srv:
        s = _session(srv.url, timeout=0.2)
        # The optional ATWS unanswered, then the essential ATZ: the step is named.
        with pytest.raises(ConnectFailed, match=r"adapter init failed at reset \(ATZ\): no '>' prompt"):
            await s.connect()
        assert s.state is LinkState.LOST


@pytest.mark.parametrize("adapter", ["clone-v2.1", "genuine-v1.4b"])
async def test_an_unreachable_car_is_the_only_init_failure_and_names_the_step(adapter: str) -> None:
    # Every optional command a clone refuses falls back; only the car itself can fail
    # connect, and the message says where (ignition off: nothing on any bus).
    async with serve_tcp(profile="petrol-can", timing=FAST, faults=["nocar"], adapter=adapter) as srv:
        s = _session(srv.url, timeout=0.5)
        with pytest.raises(ConnectFailed, match=r"the car did not answer at reach the car \(0100\): UNABLE"):
            await s.connect()


async def test_noprompt_after_no_data_is_accepted() -> None:
    async with serve_tcp(profile="petrol-can", timing=FAST, faults=["noprompt"]) as srv:
        s = _session(srv.url, timeout=0.4)
        await s.connect()
        try:
            supported = set().union(*s.supported.values())
            absent = next(p for p in BY_NAME.values() if p.code not in supported and p.code % 0x20)
            with pytest.raises(NoData):
                await s.request(0x01, bytes([absent.code]))
            assert Quirk.MISSING_PROMPT in s.quirks
            readings = await diag.read_pids(s, [BY_NAME["RPM"]])
            assert readings[0].pid.name == "RPM"
        finally:
            await s.close()


async def test_stalled_reply_degrades_then_resyncs() -> None:
    async with serve_tcp(profile="petrol-can", timing=FAST, faults=["stall:0.6"]) as srv:
        s = _session(srv.url, timeout=2.0)
        await s.connect()  # the 3rd OBD reply stalls: during connect, within 2 s
        s.timeout = 0.3  # the 8th will not make it
        rpm = BY_NAME["RPM"]
        outcomes = []
        for _ in range(8):
            try:
                readings = await diag.read_pids(s, [rpm])
                outcomes.append(readings[0].pid.name)
            except OBDError as exc:
                outcomes.append(type(exc).__name__)
        assert "CommandTimeout" in outcomes
        assert outcomes[-1] == "RPM" and s.state is LinkState.READY
        await s.close()


async def test_dropped_link_is_lost_then_reconnects() -> None:
    async with serve_tcp(profile="petrol-can", timing=FAST, faults=["drop:5"]) as srv:
        s = _session(srv.url)
        await s.connect()
        with pytest.raises(LinkLost):
            for _ in range(20):
                await diag.read_pids(s, [BY_NAME["RPM"]])
        assert s.state is LinkState.LOST
        await s.reconnect(attempts=3)
        assert s.state is LinkState.READY
        assert (await diag.read_pids(s, [BY_NAME["SPEED"]]))[0].pid.name == "SPEED"
        await s.close()


async def test_reconnect_gives_up_with_a_clear_error(port: int) -> None:
    slept: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        slept.append(seconds)

    policy = BackoffPolicy(first_s=0.5, cap_s=3.0, jitter=0.0)
    s = Session(
        lambda: transport_for_url(f"tcp://127.0.0.1:{port}"), dongle="d1", sleep=fake_sleep, backoff=policy
    )
    with pytest.raises(ConnectFailed, match="gave up after 4"):
        await s.reconnect(attempts=4)
    # Every attempt waits, the first one too (the link just ended); capped at 3 s.
    assert slept == [0.5, 1.0, 2.0, 3.0]


async def test_connect_and_drop_is_retried_no_faster_than_the_policy() -> None:
    """issue 12: a dongle that accepts the connection and drops it mid-read was retried
    ~100 times a second (3,982 "link lost" lines in 19 s). Every reconnect now waits the
    backoff first, which grows until a connection stays up healthy_after_s. Fake clock:
    sleeping advances it."""
    now = [0.0]
    slept: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    policy = BackoffPolicy(first_s=0.5, cap_s=30.0, jitter=0.5, healthy_after_s=30.0)
    async with serve_tcp(profile="petrol-can", timing=FAST, faults=["drop:6"]) as srv:
        s = Session(
            lambda: transport_for_url(srv.url),
            dongle="d1",
            sleep=fake_sleep,
            backoff=policy,
            clock=lambda: now[0],
        )
        await s.connect()
        for _ in range(11):
            with pytest.raises(LinkLost):
                await read_report(s)
            await s.reconnect(attempts=1)
        # A connection that stayed up healthy_after_s resets the backoff: short again.
        now[0] += 31.0
        with pytest.raises(LinkLost):
            await read_report(s)
        await s.reconnect(attempts=1)
        await s.close()
    assert len(slept) == 12
    for n, delay in enumerate(slept[:11], start=1):
        ceiling = min(30.0, 0.5 * 2 ** (n - 1))
        assert ceiling / 2 <= delay <= ceiling  # 'equal jitter': never under half the ceiling
    assert 0.25 <= slept[11] <= 0.5


@pytest.mark.parametrize("warm", [False, True])
async def test_ignition_off_is_a_clear_connect_error(warm: bool) -> None:
    store = MemoryStore()
    if warm:  # the dongle was used in this car before; now the ignition is off
        async with serve_tcp(profile="petrol-can", timing=FAST) as srv:
            s = _session(srv.url, store)
            await s.connect()
            await s.close()
    async with serve_tcp(profile="petrol-can", timing=FAST, faults=["nocar"]) as srv:
        s = _session(srv.url, store, timeout=0.5)
        with pytest.raises(ConnectFailed, match=r"UNABLE TO CONNECT|CAN ERROR"):
            await s.connect()
        assert s.state is LinkState.LOST


async def test_a_refusal_from_a_faster_ecu_does_not_hide_the_engines_answer() -> None:
    # The gearbox answers `7F 01 12` 12 ms before the engine's positive reply; with the
    # count digit the adapter may stop after the refusal. The driver must still get data.
    raw = json.loads((Path(sim_pkg.__file__).parent / "profiles" / "diesel-can.json").read_text())
    raw["ecus"][0]["latency_ms"] = 12
    slow_engine = parse_profile(raw, "diesel-slow-engine")
    async with serve_tcp(profile=slow_engine, timing=FAST) as srv:
        s = _session(srv.url)
        await s.connect()
        try:
            readings = await diag.read_pids(s, [BY_NAME[n] for n in ("RPM", "SPEED", "COOLANT_TEMP")])
            assert {r.pid.name for r in readings} == {"RPM", "SPEED", "COOLANT_TEMP"}
            vin, valid = await diag.read_vin(s)
            assert (vin, valid) == (slow_engine.vin, True)
        finally:
            await s.close()
