"""Remote configuration (issue 16): a desired layer over the local file, validated like
a local file, applied by restarting pipelines (not the process, losing no record),
kept under the state dir, rolled back when health fails."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from agent.config import Config, parse_config
from agent.errors import ConfigError
from agent.pipelines.scan_station import scan_body
from agent.pipelines.sink import Pipeline, RecordSink
from agent.records import AlertRecord, ScanRecord, parse_record
from agent.service.remote_config import RemoteLayer, RemoteStore, effective_config, parse_remote
from agent.service.runtime import Runtime
from drivers.camera import Code
from sync.auth import encode_key, new_key
from tests.support.broker import Broker
from tests.support.sync import ingest, running, send_command, store_records, until

BASE = "baygate/v1/shop-rc/bay-rc"


KEY = new_key()


def local(state: Path, url: str = "mqtt://127.0.0.1:1") -> Config:
    key_file = state.parent / "auth.key"
    key_file.write_text(encode_key(KEY))
    return parse_config(
        {
            "agent": {"shop_id": "shop-rc", "agent_id": "bay-rc", "state_dir": str(state)},
            "mqtt": {"url": url, "auth_key": f"file:{key_file}"},
        },
        environ={},
    )


@pytest.mark.parametrize("section", ["agent", "mqtt", "api"])
def test_local_only_sections_are_refused_by_name(section: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_remote("v1", f"[{section}]\nport = 1\n")
    assert info.value.path == section and "local file only" in str(info.value)


def test_a_remote_layer_is_validated_like_a_local_file(tmp_path: Path) -> None:
    base = local(tmp_path)
    with pytest.raises(ConfigError, match=r"obd\.telemetry_hz"):
        effective_config(base, parse_remote("v2", "[obd]\ntelemetry_hz = 500\n"))
    with pytest.raises(ConfigError, match="not valid TOML"):
        parse_remote("v3", "[obd\n")
    with pytest.raises(ConfigError, match="larger than"):
        parse_remote("v4", "# " + "x" * 60_000)
    with pytest.raises(ConfigError, match="nested deeper"):  # issue 10: RecursionError in tomllib
        parse_remote("v4", "[obd]\nx = " + "[" * 5000 + "]" * 5000 + "\n")
    merged = effective_config(base, parse_remote("v5", "[obd]\ntelemetry_hz = 2.0\n"))
    assert merged.obd.telemetry_hz == 2.0 and merged.obd.command_timeout_s == base.obd.command_timeout_s
    assert merged.mqtt == base.mqtt and merged.agent == base.agent


def test_the_kept_layer_survives_and_a_torn_file_is_an_error(tmp_path: Path) -> None:
    store = RemoteStore(tmp_path)
    assert store.load() is None
    layer = RemoteLayer("v7", {"obd": {"telemetry_hz": 2.0}})
    store.save(layer)
    assert RemoteStore(tmp_path).load() == layer
    store.path.write_text('{"version": "v8", "sett')
    with pytest.raises(ConfigError, match="unreadable"):
        store.load()


@pytest.mark.anyio
async def test_pushed_config_applies_rejects_rolls_back_and_loses_no_record(  # noqa: PLR0915
    broker: Broker, tmp_path: Path
) -> None:
    db = tmp_path / "backend.sqlite3"
    state = tmp_path / "state"
    keys = tmp_path / "keys"  # the backend's key directory: it verifies and signs acks
    (keys / "shop-rc").mkdir(parents=True)
    (keys / "shop-rc" / "bay-rc.key").write_text(encode_key(KEY))
    rt: Runtime

    def pipelines_for(c: Config) -> list[Pipeline]:
        camera = c.cameras[0].name if c.cameras else "none"

        async def scans(sink: RecordSink) -> None:
            if camera == "broken":  # this camera never works: health fails after the swap
                rt.health.register("camera", lambda: ("fail", "camera broken: no frames"))
            i = 0
            while True:
                code = Code("QRCODE", f"BAYGATE:JOB:v1;id=J{i:06d};bay=1", ((0, 0),) * 4, 0.9, "zxing")
                await sink.emit("scan", scan_body(camera, code, ()))
                i += 1
                await asyncio.sleep(0.02)

        return [scans]

    def start() -> Runtime:
        r = Runtime(
            local(state, broker.url), pipelines_for=pipelines_for, backoff_min_s=0.05, backoff_max_s=0.5
        )
        assert r.reconfigurer is not None
        r.reconfigurer.settle_s, r.reconfigurer.poll_s = 0.5, 0.05
        return r

    async def push(version: str, toml: str) -> dict[str, object]:
        body = json.dumps({"version": version, "toml": toml}).encode()
        reply, _ = await asyncio.to_thread(send_command, broker.url, BASE, "config", body, key=KEY)
        assert reply is not None and reply["ok"], reply
        result = reply["result"]
        assert isinstance(result, dict)
        return result

    def cameras_at_backend() -> list[str]:
        recs = [parse_record(p) for (a, _, _, _, p) in store_records(db) if p and a == "bay-rc"]
        return [r.camera for r in recs if isinstance(r, ScanRecord)]

    rt = start()
    async with ingest(broker.url, db, keys_dir=keys), running(rt.run):
        await until(lambda: rt.link is not None and rt.link.connected, what="link up")
        await until(lambda: "none" in cameras_at_backend(), what="records from the local config")

        cam_a = '[[cameras]]\nname = "cam-a"\nsource = "sim:"\n'
        answer = await push("v1", cam_a)
        assert answer["status"] == "applied" and answer["remote_keys"] == ["cameras"]
        await until(lambda: "cam-a" in cameras_at_backend(), what="records from the pushed config")
        assert (await push("v1", cam_a))["status"] == "unchanged"

        bad = await push("v2", "[obd]\ntelemetry_hz = 500\n")
        assert bad["status"] == "rejected" and "obd.telemetry_hz" in str(bad["error"])
        local_only = await push("v3", '[mqtt]\nurl = "mqtt://evil:1883"\n')
        assert local_only["status"] == "rejected" and "mqtt" in str(local_only["error"])

        broken = await push("v4", '[[cameras]]\nname = "broken"\nsource = "sim:"\n')
        assert broken["status"] == "rolled_back" and "camera broken" in str(broken["error"])
        assert rt.reconfigurer is not None and rt.reconfigurer.version == "v1"
        assert "camera" not in rt.health.checks  # the failed pipeline's check went with it
        n = len(cameras_at_backend())
        await until(lambda: cameras_at_backend()[n:].count("cam-a") >= 3, what="cam-a again after rollback")

    # A restart comes back with the kept layer: the local file stays the base.
    rt = start()
    async with ingest(broker.url, db, keys_dir=keys), running(rt.run):
        n = len(cameras_at_backend())
        await until(lambda: "cam-a" in cameras_at_backend()[n:], what="kept layer after restart")
        assert rt.reconfigurer is not None and rt.reconfigurer.version == "v1"
        assert rt.outbox is not None
        ob = rt.outbox
        target = ob.last_seq
        await until(lambda: rt.link is not None and rt.link.backend_hw >= target, what="caught up")

    # Nothing lost or duplicated across four pipeline swaps and a restart.
    # (The shared test broker also holds other tests' retained status records.)
    rows = [r for r in store_records(db) if r[0] == "bay-rc"]
    assert len({e for (_, e, _, _, _) in rows}) == 1
    seqs = sorted(int(s) for (_, _, s, _, _) in rows)
    assert seqs == list(range(1, len(seqs) + 1)), "a committed record is missing at the backend"
    kinds = [parse_record(p) for (_, _, _, _, p) in rows if p]
    assert not [r for r in kinds if isinstance(r, AlertRecord)]  # rolled back at once, not late


@pytest.mark.anyio
async def test_an_agent_without_an_auth_key_refuses_remote_configuration(
    broker: Broker, tmp_path: Path
) -> None:
    # Without a key the link cannot tell the backend from any broker client.
    cfg = parse_config(
        {
            "agent": {"shop_id": "shop-rc", "agent_id": "bay-nokey", "state_dir": str(tmp_path / "s")},
            "mqtt": {"url": broker.url},
        },
        environ={},
    )

    def none(_: Config) -> list[Pipeline]:
        return []

    rt = Runtime(cfg, pipelines_for=none, backoff_min_s=0.05, backoff_max_s=0.5)
    async with running(rt.run):
        await until(lambda: rt.link is not None and rt.link.connected, what="link up")
        body = json.dumps({"version": "v1", "toml": "[obd]\ntelemetry_hz = 2.0\n"}).encode()
        base = "baygate/v1/shop-rc/bay-nokey"
        reply, _ = await asyncio.to_thread(send_command, broker.url, base, "config", body)
    assert reply is not None and reply["ok"]
    result = reply["result"]
    assert isinstance(result, dict) and result["status"] == "rejected" and "auth_key" in result["error"]
    assert rt.reconfigurer is not None and rt.reconfigurer.version is None
