"""Fleet benchmark: many simulated agents into PostgreSQL through the real ingest.

    .venv/bin/python bench/fleet.py [--agents 200] [--rate 2] [--duration 30] [--quick]

One Mosquitto (persistence on) and one PostgreSQL 15, both started here on free ports
(tests/support). Each scenario gets a fresh database and:
- `baygate backend --db postgresql://...` x W, distinct client ids, one shared-subscription
  group (MQTT 5 `$share/...`), as separate processes;
- `baygate simulate fleet --agents N --rate R --duration D`: N real Runtimes (outbox,
  link, birth/Last Will) in one process, telemetry records with simulated readings;
- at the end the simulator waits for every agent's backend ack (high-water mark) and
  writes each agent's epoch and last committed seq.

Scenarios: workers 1, workers 2, and workers 2 with one killed (kill -9) halfway through
the stream, with a 10 s session expiry and with the default 7 days. Per scenario:
records committed by the agents, stored, lost (committed but not stored: seqs
1..last_seq missing from `records`), duplicate rows (rows sharing an id), redeliveries
absorbed by the ingest's dedupe, stored records/s over the stream, end-to-end latency
(the record's own ts, taken before its outbox commit, to the ingest's commit time, same
clock) p50/p95/p99, and the workers' and the simulator's CPU seconds.
`--rounds N` runs the plan N times, interleaved, and prints each scenario's medians: the
machine is shared, and its load (printed per scenario) moves the latencies more than
the number of workers does. The last line is one JSON object with every figure.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import psycopg  # noqa: E402 - after sys.path

from tests.support.broker import Broker  # noqa: E402 - after sys.path
from tests.support.postgres import postgres_server  # noqa: E402 - after sys.path

BAYGATE = [sys.executable, "-m", "agent", "--log-level", "WARNING"]
_TICK = os.sysconf("SC_CLK_TCK")


def cpu_s(pid: int) -> float:
    """utime + stime of a live process, from /proc (read before it is stopped)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / _TICK


def new_db(server: str) -> str:
    name = "fleet_" + uuid.uuid4().hex[:10]
    with psycopg.connect(server, autocommit=True) as con:
        con.execute(f"CREATE DATABASE {name}")
    return server.rsplit("/", 1)[0] + "/" + name


def start_worker(url: str, db: str, name: str, group: str, *, expiry: int, log: Path) -> Any:
    # INFO: the bench waits for "backend ingest up" from every worker
    cmd = [sys.executable, "-m", "agent", "backend", "--mqtt", url, "--db", db, "--client-id", name,
           "--group", group,
           "--session-expiry", str(expiry)]  # fmt: skip
    with log.open("ab") as err:
        return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err)


def wait_subscribed(procs: list[Any], logs: list[Path], timeout: float = 30.0) -> None:
    """Every worker says it is up (and so subscribed); one that exits is fatal: a
    scenario of two workers must not quietly run on one."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        for p, log in zip(procs, logs, strict=True):
            if p.poll() is not None:
                raise RuntimeError(f"worker exited {p.returncode}: {log.read_text()[-800:]}")
        if all("backend ingest up" in log.read_text() for log in logs):
            return
        time.sleep(0.2)
    raise RuntimeError("the workers did not come up")


def audit(db: str, summary: list[dict[str, Any]], prefix: str) -> dict[str, Any]:
    """Only this scenario's agents: the broker also hands a new shared subscription the
    statuses an earlier scenario's agents left retained."""
    lost, like = 0, prefix + "-%"
    with psycopg.connect(db) as con:
        for s in summary:
            (have,) = con.execute(
                "SELECT COUNT(DISTINCT seq) FROM records WHERE agent=%s AND epoch=%s "
                "AND seq BETWEEN 1 AND %s",
                (s["agent"], s["epoch"], s["last_seq"]),
            ).fetchone() or (0,)
            lost += s["last_seq"] - int(have)
        rows, ids = con.execute(
            "SELECT COUNT(*), COUNT(DISTINCT (agent, epoch, seq)) FROM records WHERE agent LIKE %s", (like,)
        ).fetchone() or (0, 0)
        (absorbed,) = con.execute(
            "SELECT COALESCE(SUM(duplicates), 0) FROM streams WHERE agent LIKE %s", (like,)
        ).fetchone() or (0,)
        lat = con.execute(
            "WITH t AS (SELECT received - extract(epoch FROM (convert_from(payload, 'UTF8')::json->>'ts')"
            "::timestamptz) AS l, received FROM records WHERE kind='telemetry' AND payload IS NOT NULL "
            "AND agent LIKE %s) SELECT percentile_cont(ARRAY[0.5, 0.95, 0.99]) WITHIN GROUP (ORDER BY l), "
            "COUNT(*), MIN(received), MAX(received) FROM t",
            (like,),
        ).fetchone()
    assert lat is not None
    pct, n, first, last = lat
    span = (last - first) if n and last > first else 0.0
    return {
        "committed": sum(s["last_seq"] for s in summary),
        "stored": int(rows),
        "lost": lost,
        "duplicate_rows": int(rows) - int(ids),
        "redeliveries_absorbed": int(absorbed),
        "telemetry_per_s": round(n / span, 1) if span else None,
        "latency_p50_ms": round(pct[0] * 1000, 1) if pct else None,
        "latency_p95_ms": round(pct[1] * 1000, 1) if pct else None,
        "latency_p99_ms": round(pct[2] * 1000, 1) if pct else None,
    }


def scenario(
    name: str, where: tuple[Broker, str, Path], args: argparse.Namespace, plan: tuple[int, bool, int]
) -> dict[str, Any]:
    (broker, server, work), (workers, kill_one, expiry) = where, plan
    db = new_db(server)
    group = "g" + uuid.uuid4().hex[:6]
    # Fresh agents every run: a second round must not reopen the first round's outboxes
    # (their seqs continue, and the fresh database has not seen the earlier ones).
    prefix = name.replace("-", "") + group[1:4]
    work = work / group
    work.mkdir()
    logs = [work / f"{name}-w{i}.log" for i in range(workers)]
    out = work / f"{name}-summary.jsonl"
    procs: list[Any] = []
    sim: Any = None
    try:
        for i, lg in enumerate(logs):
            procs.append(start_worker(broker.url, db, f"{group}-w{i}", group, expiry=expiry, log=lg))
        wait_subscribed(procs, logs)
        time.sleep(1.0)  # the shared subscription is in place before the first agent publishes
        sim = subprocess.Popen(
            [*BAYGATE, "simulate", "fleet", "--mqtt", broker.url, "--agents", str(args.agents),
             "--rate", str(args.rate), "--duration", str(args.duration), "--drain", "120",
             "--state", str(work / name), "--summary", str(out), "--prefix", prefix],
            stdout=subprocess.DEVNULL, stderr=(work / f"{name}-sim.log").open("ab"),
        )  # fmt: skip
        killed_cpu = sim_cpu = 0.0
        if kill_one:
            time.sleep(args.duration / 2)
            killed_cpu = cpu_s(procs[0].pid)
            os.kill(procs[0].pid, signal.SIGKILL)
            procs[0].wait()
        while sim.poll() is None:
            sim_cpu = cpu_s(sim.pid) or sim_cpu
            time.sleep(0.5)
        time.sleep(1.0)  # the last batch's commit
        worker_cpu = killed_cpu + sum(cpu_s(p.pid) for p in procs if p.poll() is None)
    finally:
        for p in [*procs, *([sim] if sim is not None else [])]:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in [*procs, *([sim] if sim is not None else [])]:
            p.wait(timeout=60)
    summary = [json.loads(line) for line in out.read_text().splitlines()]
    res = audit(db, summary, prefix)
    warnings = [ln for log in logs for ln in log.read_text(errors="replace").splitlines()
                if '"WARNING"' in ln or '"ERROR"' in ln or "cannot" in ln]  # fmt: skip
    res["worker_warnings"] = len(warnings)
    if args.show_warnings:
        print("\n".join(warnings[:20]), file=sys.stderr)
    res.update(
        load1=round(os.getloadavg()[0], 1), scenario=name, session_expiry_s=expiry, agents=args.agents,
        rate=args.rate, duration_s=args.duration,
        workers=workers,
        killed=1 if kill_one else 0, acked=sum(min(s["backend_hw"], s["last_seq"]) for s in summary),
        workers_cpu_s=round(worker_cpu, 1), simulator_cpu_s=round(sim_cpu, 1), sim_exit=sim.returncode,
    )  # fmt: skip
    return res


def main() -> None:
    # SIGTERM unwinds like Ctrl-C, so the broker, PostgreSQL and the workers are stopped.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--agents", type=int, default=200)
    ap.add_argument("--rate", type=float, default=2.0, help="records/s per agent")
    ap.add_argument("--duration", type=float, default=30.0, help="seconds of production per scenario")
    ap.add_argument("--quick", action="store_true", help="20 agents, 10 s (a smoke run)")
    ap.add_argument("--rounds", type=int, default=1, help="run the plan this many times, interleaved")
    ap.add_argument("--keep", type=Path, default=None, help="work here and keep the logs and state")
    ap.add_argument("--show-warnings", action="store_true", help="print the workers' first warnings")
    ap.add_argument("--only", default=None, help="one scenario: w1, w2, w2-kill, w2-kill-7d")
    args = ap.parse_args()
    if args.quick:
        args.agents, args.duration = 20, 10.0
    # The default session expiry (7 days) keeps a dead worker's session, and Mosquitto
    # keeps dealing it its share of the group's records until it returns; 10 s lets
    # the group shrink to the live workers (docs/scaling.md).
    week = 7 * 86400
    plan = [("w1", 1, False, week), ("w2", 2, False, 10), ("w2-kill", 2, True, 10),
            ("w2-kill-7d", 2, True, week)]  # fmt: skip
    if args.only:
        plan = [p for p in plan if p[0] == args.only]
    results = []
    with tempfile.TemporaryDirectory(prefix="bench-fleet-") as tmp, postgres_server() as server:
        work = args.keep or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        broker = Broker(workdir=work / "mosquitto")
        broker.start()
        try:
            for name, workers, kill, expiry in plan * args.rounds:
                r = scenario(name, (broker, server, work), args, (workers, kill, expiry))
                results.append(r)
                print(
                    f"{name:10} agents={r['agents']} rate={r['rate']}/s workers={workers} "
                    f"killed={r['killed']} expiry={expiry}s: "
                    f"committed {r['committed']} stored {r['stored']} lost {r['lost']} "
                    f"dup rows {r['duplicate_rows']} (redeliveries absorbed {r['redeliveries_absorbed']}); "
                    f"{r['telemetry_per_s']} rec/s; latency p50 {r['latency_p50_ms']} ms "
                    f"p95 {r['latency_p95_ms']} ms p99 {r['latency_p99_ms']} ms; "
                    f"cpu workers {r['workers_cpu_s']} s simulator {r['simulator_cpu_s']} s; "
                    f"worker warnings {r['worker_warnings']}; load {r['load1']}",
                    flush=True,
                )
        finally:
            broker.stop()
    if args.rounds > 1:
        for name, *_ in plan:
            rs = [r for r in results if r["scenario"] == name]
            keys = ("latency_p50_ms", "latency_p95_ms", "latency_p99_ms", "telemetry_per_s", "workers_cpu_s",
                    "load1")  # fmt: skip
            med = {k: statistics.median(r[k] for r in rs) for k in keys if all(r[k] is not None for r in rs)}
            lost = sum(r["lost"] for r in rs)
            print(f"{name:10} median of {len(rs)}: {json.dumps(med)}; lost in all rounds {lost}", flush=True)
    print(json.dumps({"fleet": results}))


if __name__ == "__main__":
    main()
