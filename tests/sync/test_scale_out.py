"""The ingest scaled out: two `baygate backend` processes in one MQTT 5 shared-subscription
group into one PostgreSQL, fed by `baygate simulate fleet` (real Runtimes: outbox, link);
one worker is killed (kill -9) mid-stream. Every record every agent committed must be
stored exactly once, and every agent must hear the backend ack its last record."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import psycopg

from tests.support.broker import Broker

BAYGATE = [sys.executable, "-m", "agent", "--log-level", "WARNING"]


def count(db: str) -> int:
    try:
        with psycopg.connect(db) as con:
            row = con.execute("SELECT COUNT(*) FROM records WHERE kind='telemetry'").fetchone()
    except psycopg.Error:
        return 0  # tables not created yet
    return int(row[0]) if row else 0


def wait(pred: object, timeout: float, what: str) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():  # type: ignore[operator]
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def test_killing_one_of_two_workers_mid_stream_loses_and_duplicates_nothing(
    own_broker: Broker, pg_db: str, tmp_path: Path
) -> None:
    group = "g" + uuid.uuid4().hex[:6]
    logs = [(tmp_path / f"w{i}.log").open("wb") for i in range(2)]
    # A short session expiry: the broker stops dealing the dead worker its share of
    # the group 3 s after it vanished (docs/scaling.md).
    backend = [sys.executable, "-m", "agent", "--log-level", "INFO", "backend", "--mqtt", own_broker.url,
               "--db", pg_db, "--group", group, "--session-expiry", "3"]  # fmt: skip
    workers = [
        subprocess.Popen([*backend, "--client-id", f"w{i}"], stdout=subprocess.DEVNULL, stderr=logs[i])
        for i in range(2)
    ]
    summary = tmp_path / "fleet.jsonl"
    sim = None
    try:
        # Both workers up and subscribed (two starting together on a fresh database once
        # lost one of them to a CREATE TABLE race), so the broker deals to both.
        up = [tmp_path / f"w{i}.log" for i in range(2)]
        wait(lambda: all("backend ingest up" in p.read_text() for p in up), 30, "both workers subscribed")
        fleet = [*BAYGATE, "simulate", "fleet", "--mqtt", own_broker.url, "--agents", "8", "--rate", "25",
                 "--duration", "8", "--drain", "90", "--state", str(tmp_path / "fleet"),
                 "--summary", str(summary)]  # fmt: skip
        sim = subprocess.Popen(fleet, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        wait(lambda: count(pg_db) >= 200, 60, "the stream under way")
        assert [w.poll() for w in workers] == [None, None], [p.read_text()[-500:] for p in up]
        os.kill(workers[0].pid, signal.SIGKILL)
        workers[0].wait()
        before = count(pg_db)
        _out, err = sim.communicate(timeout=150)
        assert sim.returncode == 0, err.decode()[-2000:]
        assert workers[1].poll() is None  # the survivor did the rest
    finally:
        for w in workers:
            if w.poll() is None:
                w.send_signal(signal.SIGTERM)
                w.wait(timeout=30)
        if sim is not None and sim.poll() is None:
            sim.kill()
        for f in logs:
            f.close()
    agents = [json.loads(line) for line in summary.read_text().splitlines()]
    assert len(agents) == 8
    assert before < sum(a["telemetry"] for a in agents)  # the kill came mid-stream
    with psycopg.connect(pg_db) as con:
        for a in agents:
            seqs = [s for (s,) in con.execute(
                "SELECT seq FROM records WHERE agent=%s AND epoch=%s ORDER BY seq", (a["agent"], a["epoch"])
            )]  # fmt: skip
            assert seqs == list(range(1, a["last_seq"] + 1)), a["agent"]  # none lost, none twice
            assert a["backend_hw"] == a["last_seq"]  # and the agent heard the backend say so
            assert a["telemetry"] > 150  # 25/s for 8 s, less startup


