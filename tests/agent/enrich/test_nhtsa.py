"""The NHTSA client against the fake vPIC/recalls server over real loopback HTTP.

Clocks and sleeps are fake: retries, backoff, breaker timeouts and rate limits advance
the FakeClock instead of waiting. Only latency/timeout faults cost real milliseconds.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from agent.enrich.breaker import BreakerState
from agent.enrich.db import StateDB
from agent.enrich.errors import BreakerOpenError, DataError, RemoteError, TransportError
from simulators.services.server import ServiceServer
from tests.support.broker import free_port
from tests.support.enrich import FakeClock, faults, nhtsa_client, requests_to, resilience

pytestmark = pytest.mark.anyio

TESLA = "5YJ3E1EA2KF317000"
SILVERADO = "1GCUYDED6KZ104455"
VINS = [TESLA, SILVERADO, "1HGCM82633A004352", "1FTFW1E50KFA12345", "2HKRW2H52KH600123"]


async def test_happy_path_decode_and_recalls(
    anyio_backend: str, nhtsa_server: ServiceServer, clock: FakeClock, state_dir: Path
) -> None:
    async with nhtsa_client(nhtsa_server, clock, state_dir) as c:
        r = await c.decode(TESLA, 2019)
        v = r.vehicle
        assert (v.make, v.model, v.model_year, v.trim) == ("TESLA", "Model 3", 2019, "Long Range")
        assert v.fuel_type == "Electric" and v.plant_country == "UNITED STATES (USA)"
        assert v.error_codes == [0] and not r.stale and not r.cached
        rec = await c.recalls(v.make or "", v.model or "", 2019, v.series)
        assert [x.campaign for x in rec.recalls] == ["21V846000", "23V085000"]
        assert rec.recalls[0].report_received == "2021-10-22"  # DD/MM/YYYY -> ISO
        again = await c.decode(TESLA, 2019)
        assert again.cached and requests_to(nhtsa_server, "/api/vehicles/") == 1


async def test_recall_model_names_that_differ_from_vpic_are_found(
    anyio_backend: str, nhtsa_server: ServiceServer, clock: FakeClock
) -> None:
    async with nhtsa_client(nhtsa_server, clock) as c:
        silverado = (await c.decode(SILVERADO)).vehicle
        assert silverado.model == "Silverado"  # vPIC's spelling
        rec = await c.recalls("CHEVROLET", "Silverado", 2019, silverado.series)
        assert rec.model_matched == "SILVERADO 1500" and len(rec.recalls) == 1
        bmw = await c.recalls("BMW", "3-Series", 2016, "F30")
        assert bmw.model_matched == "3 SERIES" and bmw.model_tried[0] == "3-SERIES"
        none = await c.recalls("HYUNDAI", "Elantra", 2018)
        assert none.recalls == [] and none.model_matched is None


async def test_concurrent_lookups_are_coalesced_into_batches_of_50(
    anyio_backend: str, nhtsa_server: ServiceServer, clock: FakeClock
) -> None:
    vins = [f"1FTFW1E5{i:09d}"[:17] for i in range(120)]
    async with nhtsa_client(nhtsa_server, clock, batch_window_s=0.01) as c:
        results = await c.decode_many([(v, None) for v in vins])
    assert all(not isinstance(r, Exception) for r in results)
    stats = requests_to(nhtsa_server, "/api/vehicles/DecodeVINValuesBatch")
    assert stats == 3  # 50 + 50 + 20


async def test_same_vin_requested_concurrently_is_fetched_once(
    anyio_backend: str, nhtsa_server: ServiceServer, clock: FakeClock
) -> None:
    async with nhtsa_client(nhtsa_server, clock) as c:
        out = await asyncio.gather(*(c.decode(TESLA) for _ in range(20)))
        assert {r.vehicle.model for r in out} == {"Model 3"}
        assert c._decodes.shared == 19
    assert requests_to(nhtsa_server) == 1


async def test_error_codes_list_suggested_vin_and_partial_vins(
    anyio_backend: str, nhtsa_server: ServiceServer, clock: FakeClock
) -> None:
    async with nhtsa_client(nhtsa_server, clock) as c:
        wrong = await c.decode(SILVERADO[:8] + "7" + SILVERADO[9:])
        assert wrong.vehicle.error_codes == [1] and wrong.vehicle.suggested_vin == SILVERADO
        partial = await c.decode("1FTFW1E5*KF******")
        assert 6 in partial.vehicle.error_codes and partial.vehicle.model == "F-150"
        garbage = await c.decode("HELLO")
        assert garbage.vehicle.make is None and 6 in garbage.vehicle.error_codes


async def test_slow_service_still_answers(
    anyio_backend: str, nhtsa_server: ServiceServer, clock: FakeClock
) -> None:
    faults(nhtsa_server, latency_ms=150)
    async with nhtsa_client(nhtsa_server, clock, timeout_s=5) as c:
        assert (await c.decode(TESLA)).vehicle.make == "TESLA"


async def test_timeouts_are_retried_then_succeed(
    anyio_backend: str, nhtsa_server: ServiceServer, clock: FakeClock
) -> None:
    faults(nhtsa_server, queue=["timeout:2"])
    # 0.5 s: long enough that a loaded CI machine never times out the healthy retry.
    async with nhtsa_client(nhtsa_server, clock, timeout_s=0.5) as c:
        assert (await c.decode(TESLA)).vehicle.make == "TESLA"
    assert requests_to(nhtsa_server) == 2 and len(clock.sleeps) == 1


async def test_service_down_gives_a_typed_error(anyio_backend: str, clock: FakeClock) -> None:
    dead = f"http://127.0.0.1:{free_port()}/"  # nothing listens: connection refused
    async with nhtsa_client(dead, clock) as c:
        with pytest.raises(TransportError):
            await c.decode(TESLA)
    assert len(clock.sleeps) == 2  # three attempts, two backoffs


async def test_intermittent_network_is_ridden_out(
    anyio_backend: str, nhtsa_server: ServiceServer, clock: FakeClock
) -> None:
    faults(nhtsa_server, queue=["reset", "ok", "reset", "502", "ok", "reset", "ok"])
    async with nhtsa_client(nhtsa_server, clock) as c:
        for vin in VINS[:4]:
            assert (await c.decode(vin)).vehicle.make is not None


async def test_429_with_retry_after_is_honoured(
    anyio_backend: str, nhtsa_server: ServiceServer, clock: FakeClock
) -> None:
    faults(nhtsa_server, queue=["429:3", "503:2"])
    async with nhtsa_client(nhtsa_server, clock) as c:
        assert (await c.decode(TESLA)).vehicle.make == "TESLA"
    assert clock.sleeps[0] >= 3.0 and clock.sleeps[1] >= 2.0
    assert requests_to(nhtsa_server) == 3


@pytest.mark.parametrize("fault", ["truncated", "garbage", "html"])
async def test_corrupted_answers_are_typed_errors_not_crashes(
    anyio_backend: str, nhtsa_server: ServiceServer, clock: FakeClock, fault: str
) -> None:
    faults(nhtsa_server, persistent=fault)
    async with nhtsa_client(nhtsa_server, clock) as c:
        with pytest.raises(DataError):
            await c.decode(TESLA)
        with pytest.raises(DataError):
            await c.recalls("TESLA", "Model 3", 2019)


async def test_partial_failure_in_a_batch_only_fails_that_batch(
    anyio_backend: str, nhtsa_server: ServiceServer, clock: FakeClock
) -> None:
    vins = [f"1FTFW1E5{i:09d}" for i in range(100)]
    faults(nhtsa_server, queue=["ok", "garbage", "garbage", "garbage"])
    async with nhtsa_client(nhtsa_server, clock, batch_window_s=0.01) as c:
        c.res.breaker_policy = c.res.breaker_policy.__class__(failure_threshold=10)
        c._sem = asyncio.Semaphore(1)  # one batch at a time: the fault queue order is deterministic
        results = await c.decode_many([(v, None) for v in vins])
    errors = [r for r in results if isinstance(r, RemoteError)]
    assert len(errors) == 50 and all(isinstance(e, DataError) for e in errors)


async def test_breaker_opens_after_n_failures_then_fails_fast(
    anyio_backend: str, nhtsa_server: ServiceServer, clock: FakeClock
) -> None:
    faults(nhtsa_server, persistent="503:0")
    res = resilience(clock, failure_threshold=2, attempts=2)
    async with nhtsa_client(nhtsa_server, clock, res=res) as c:
        for vin in VINS[:2]:
            with pytest.raises(RemoteError):
                await c.decode(vin)
        assert res.states() == {f"127.0.0.1:{nhtsa_server.port}": BreakerState.OPEN}
        hits = requests_to(nhtsa_server)
        with pytest.raises(BreakerOpenError):
            await c.decode(VINS[2])
        assert requests_to(nhtsa_server) == hits == 4  # nothing reached the server


async def test_one_probe_in_half_open_and_recovery(
    anyio_backend: str, nhtsa_server: ServiceServer, clock: FakeClock
) -> None:
    faults(nhtsa_server, persistent="503:0")
    res = resilience(clock, failure_threshold=1, attempts=1, open_timeout_s=30)
    async with nhtsa_client(nhtsa_server, clock, res=res, batch_window_s=0) as c:
        with pytest.raises(RemoteError):
            await c.decode(VINS[0])
        faults(nhtsa_server, persistent=None, latency_ms=100)
        clock.advance(30)
        before = requests_to(nhtsa_server)
        probe = asyncio.create_task(c.decode(VINS[0]))
        await asyncio.sleep(0.03)  # the probe is now in flight (the server adds 100 ms)
        host = f"127.0.0.1:{nhtsa_server.port}"
        assert res.states()[host] == BreakerState.HALF_OPEN
        others = await asyncio.gather(*(c.decode(v) for v in VINS[1:]), return_exceptions=True)
        assert all(isinstance(o, BreakerOpenError) for o in others)
        assert (await probe).vehicle.make == "TESLA"
        assert requests_to(nhtsa_server) - before == 1  # only the probe went out
        assert res.states()[host] == BreakerState.CLOSED
        assert (await c.decode(VINS[1])).vehicle.make == "CHEVROLET"


async def test_stale_data_is_served_while_the_breaker_is_open(
    anyio_backend: str, nhtsa_server: ServiceServer, clock: FakeClock, state_dir: Path
) -> None:
    res = resilience(clock, failure_threshold=1, attempts=1)
    async with nhtsa_client(nhtsa_server, clock, state_dir, res=res) as c:
        fresh = await c.decode(TESLA)
        await c.recalls("TESLA", "Model 3", 2019)
        clock.advance(40 * 86400)  # past every TTL
        faults(nhtsa_server, persistent="503")
        stale = await c.decode(TESLA)
        assert stale.stale and stale.vehicle == fresh.vehicle
        assert res.states()[f"127.0.0.1:{nhtsa_server.port}"] == BreakerState.OPEN
        hits = requests_to(nhtsa_server)
        again = await c.decode(TESLA)  # breaker open: no request at all, still served
        rec = await c.recalls("TESLA", "Model 3", 2019)
        assert again.stale and rec.stale and len(rec.recalls) == 2
        assert requests_to(nhtsa_server) == hits


async def test_cache_survives_a_restart(
    anyio_backend: str, nhtsa_server: ServiceServer, clock: FakeClock, state_dir: Path
) -> None:
    db = StateDB(state_dir / "enrich.sqlite")
    async with nhtsa_client(nhtsa_server, clock, db=db) as c:
        await c.decode(SILVERADO)
    db.close()
    faults(nhtsa_server, persistent="503")
    db2 = StateDB(state_dir / "enrich.sqlite")
    async with nhtsa_client(nhtsa_server, clock, db=db2) as c2:
        r = await c2.decode(SILVERADO)
        assert r.cached and not r.stale and r.vehicle.model == "Silverado"
    assert requests_to(nhtsa_server) == 1
    db2.close()


async def test_requests_to_one_host_are_rate_limited(
    anyio_backend: str, nhtsa_server: ServiceServer, clock: FakeClock
) -> None:
    res = resilience(clock, rate_per_s=2.0)  # burst 2, then one every 0.5 s
    async with nhtsa_client(nhtsa_server, clock, res=res) as c:
        for model in ("Model 3", "Model S", "Model X", "Model Y", "Roadster", "Cybertruck"):
            await c.recalls("TESLA", model, 2019)
    assert requests_to(nhtsa_server, "/recalls/") >= 6
    waited = sum(clock.sleeps)
    assert waited == pytest.approx((requests_to(nhtsa_server, "/recalls/") - 2) * 0.5)
