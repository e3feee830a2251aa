"""`baygate backend`: --stats on a real store; passwords from files or the
environment (a real PostgreSQL with scram auth), never printed; TLS to a real
Mosquitto TLS listener with `--ca-file`."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.cli import main
from sync.envelope import Incoming
from sync.mqtt import TlsFiles
from sync.store import open_store
from tests.support.postgres import postgres_server
from tests.support.sync import BASE, agent_side, make_broker, render, store_records, until
from tests.support.tls import Pki, make_pki


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    """main() installs log handlers on pytest's captured stderr; later tests' log lines
    must not go to a stream pytest has closed."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def test_stats_prints_counts_gaps_and_lag(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "b.sqlite3"
    store = open_store(str(db))
    recs = [Incoming("shop1", "bay1", "epoch-1", s, "scan", b"{}", False, False, None) for s in (1, 2, 5)]
    store.commit(recs)
    store.close()
    assert main(["backend", "--stats", "--db", str(db)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split()[:6] == ["shop/agent", "epoch", "records", "hw", "max", "gaps"]
    assert out[1].split()[:6] == ["shop1/bay1", "epoch-1", "3", "2", "5", "2"]


def test_a_bad_database_url_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["backend", "--stats", "--db", "postgresql://nobody@127.0.0.1:1/x"]) == 1
    assert "cannot open backend store" in capsys.readouterr().err


ROOT = Path(__file__).resolve().parents[2]


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "agent", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
        timeout=60,
        env={**os.environ, **(env or {})},
    )


@pytest.fixture(scope="module")
def pg_with_password() -> Iterator[str]:
    with postgres_server(password="Pg-s3cret-42") as url:
        yield url


def test_the_database_password_comes_from_a_file_or_the_environment(
    pg_with_password: str, tmp_path: Path
) -> None:
    url = pg_with_password  # no password in it: scram-sha-256 on TCP
    assert _cli("backend", "--stats", "--db", url).returncode == 1
    secret = tmp_path / "db-password"
    secret.write_text("Pg-s3cret-42\n")
    ok = _cli("backend", "--stats", "--db", url, "--db-password-file", str(secret))
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.startswith("shop/agent")
    env = _cli("backend", "--stats", "--db", url, env={"BAYGATE_BACKEND_DB_PASSWORD": "Pg-s3cret-42"})
    assert env.returncode == 0, env.stderr


def test_a_password_in_a_database_url_is_never_printed(pg_with_password: str) -> None:
    wrong = pg_with_password.replace("postgres@", "postgres:Wr0ng-pass-77@")
    proc = _cli("backend", "--stats", "--db", wrong)
    assert proc.returncode == 1
    assert "cannot open backend store" in proc.stderr and "postgres:***@" in proc.stderr
    assert "Wr0ng-pass-77" not in proc.stderr + proc.stdout
    assert "Traceback" not in proc.stderr


def test_backend_over_tls_with_ca_file_client_cert_and_password_file(tmp_path: Path) -> None:
    """`--ca-file` used to fail with AttributeError. A Mosquitto TLS listener that wants
    a client certificate and a password; `baygate backend` as a process stores what an
    agent sends over TLS, and its banner shows no password."""
    pki = make_pki(tmp_path / "pki")
    pwfile = tmp_path / "mosquitto.passwd"
    for flags, user, pw in ((["-c"], "ingest", "Mq-s3cret-9"), ([], "agent", "agent-pw")):
        subprocess.run(["mosquitto_passwd", "-b", *flags, str(pwfile), user, pw], check=True, timeout=30)
    conf = "\n".join([
        f"cafile {pki.ca}", f"certfile {pki.server_cert}", f"keyfile {pki.server_key}",
        "require_certificate true", "allow_anonymous false", f"password_file {pwfile}",
    ])  # fmt: skip
    b = make_broker(tmp_path / "m", extra=conf)
    b.start()
    url = f"mqtts://127.0.0.1:{b.port}"
    secret = tmp_path / "mqtt-password"
    secret.write_text("Mq-s3cret-9\n")
    db = tmp_path / "b.sqlite3"
    log = (tmp_path / "backend.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "agent", "backend", "--mqtt", url, "--db", str(db),
         "--ca-file", str(pki.ca), "--cert-file", str(pki.client_cert), "--key-file", str(pki.client_key),
         "--username", "ingest", "--password-file", str(secret),
         "--client-id", "tls-ingest", "--group", "tls"],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=log,
    )  # fmt: skip
    try:
        asyncio.run(_deliver_over_tls(url, pki, tmp_path, db))
    finally:
        proc.send_signal(signal.SIGTERM)
        rc = proc.wait(timeout=30)
        log.close()
        b.stop()
    err = (tmp_path / "backend.log").read_text()
    assert rc == 0, err
    assert "baygate backend:" in err and "Mq-s3cret-9" not in err
    assert "Traceback" not in err


async def _deliver_over_tls(url: str, pki: Pki, tmp_path: Path, db: Path) -> None:
    tls = TlsFiles(ca_file=pki.ca, cert_file=pki.client_cert, key_file=pki.client_key)
    async with agent_side(tmp_path / "a", url, tls=tls, username="agent", password="agent-pw") as (ob, link):
        await link.wait_connected()
        for _ in range(5):
            await ob.put("scan", BASE + "/scan", render("scan"))
        await until(lambda: link.backend_hw >= ob.last_seq, 60, what="the backend's ack over TLS")
    stored = {s for _a, _e, s, _k, _p in store_records(db)}
    assert set(range(1, ob.last_seq + 1)) <= stored
