"""Every bad input is one line on stderr and a documented exit code, never a traceback:
0 ok, 1 runtime failure, 2 usage or config error, 141 stdout closed early (README
"Command line"). Each case runs the installed `baygate` as a user would (subprocess)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.broker import Broker, free_port

BAYGATE = str(Path(sys.executable).parent / "baygate")


def baygate(
    *args: str, env: dict[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("BAYGATE__")}
    full_env.update(env or {})
    return subprocess.run(
        [BAYGATE, *args], capture_output=True, text=True, env=full_env, timeout=timeout, check=False
    )


def one_error_line(r: subprocess.CompletedProcess[str]) -> str:
    """The one line a failure prints (argparse's usage lines above its error allowed)."""
    assert "Traceback" not in r.stderr, r.stderr
    # log lines (JSON objects) may precede it; the error itself is one plain line
    lines = [ln for ln in r.stderr.splitlines() if ln.strip() and not ln.startswith("{")]
    assert lines, "a failure must say why"
    if lines[0].startswith("usage:"):
        assert lines[-1].startswith("baygate") and ": error: " in lines[-1], r.stderr
        return lines[-1]
    assert len(lines) == 1, r.stderr
    return lines[0]


def config(
    tmp_path: Path, extra: str = "", *, mqtt_port: int | None = None, api_port: int | None = None
) -> Path:
    """A minimal config whose agent can start here: no devices, enrichment off."""
    path = tmp_path / "agent.toml"
    path.write_text(
        f'[agent]\nshop_id = "shop-1"\nagent_id = "bay-1"\nstate_dir = "{tmp_path / "state"}"\n'
        f"{extra}\n[enrich]\nenabled = false\n"
        f'[mqtt]\nurl = "mqtt://127.0.0.1:{mqtt_port or free_port()}"\n'
        f"[api]\nport = {api_port or free_port()}\n"
    )
    return path


# --- validated when the config loads: run and doctor both refuse, naming the key ------


@pytest.mark.parametrize(
    ("extra", "key"),
    [
        ('[obd]\ntelemetry_pids = ["RPM", "RPMX"]', "obd.telemetry_pids"),
        ('[[cameras]]\nname = "c"\nsource = "sim:"\nformats = ["QRCodeX"]', "cameras.0.formats"),
    ],
)
@pytest.mark.parametrize("command", ["run", "doctor"])
def test_unknown_names_in_lists_fail_at_load(tmp_path: Path, extra: str, key: str, command: str) -> None:
    r = baygate("--config", str(config(tmp_path, extra)), command)
    assert r.returncode == 2
    line = one_error_line(r)
    assert key in line and ("RPMX" in line or "QRCodeX" in line)


def test_a_config_that_is_not_utf8_is_a_config_error(tmp_path: Path) -> None:
    path = config(tmp_path)
    path.write_bytes(b"# Werkstatt M\xfcnchen (latin-1)\n" + path.read_bytes())
    r = baygate("--config", str(path), "doctor")
    assert r.returncode == 2 and "not UTF-8" in one_error_line(r)


def test_a_state_dir_that_cannot_be_created(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")  # a file where a directory would have to go
    path = config(tmp_path)
    path.write_text(path.read_text().replace(str(tmp_path / "state"), str(tmp_path / "file/state")))
    r = baygate("--config", str(path), "run", timeout=30)
    assert r.returncode == 2 and "agent.state_dir" in one_error_line(r)
    d = baygate("--config", str(path), "doctor")
    assert d.returncode == 1 and "FAIL  state_dir" in d.stdout


def test_an_environment_override_error_names_the_variable(tmp_path: Path) -> None:
    r = baygate("--config", str(config(tmp_path)), "doctor", env={"BAYGATE__MQTT__KEEPALIV_S": "30"})
    assert r.returncode == 2
    assert "BAYGATE__MQTT__KEEPALIV_S" in one_error_line(r)


def test_a_secret_that_cannot_be_read_names_its_key(tmp_path: Path) -> None:
    path = config(tmp_path)
    path.write_text(path.read_text().replace("[api]", f'password = "file:{tmp_path}/no-such-pw"\n[api]'))
    r = baygate("--config", str(path), "run", timeout=30)
    assert r.returncode == 2 and "mqtt.password" in one_error_line(r)
    d = baygate("--config", str(path), "doctor")
    assert d.returncode == 1 and "mqtt.password" in d.stdout


# --- the environment refuses a port or a path: exit 1 ---------------------------------


@pytest.fixture
def busy_port() -> Iterator[int]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        yield int(s.getsockname()[1])


def test_api_port_in_use(tmp_path: Path, busy_port: int) -> None:
    r = baygate("--config", str(config(tmp_path, api_port=busy_port)), "run", timeout=60)
    assert r.returncode == 1
    assert f"127.0.0.1:{busy_port}" in one_error_line(r)


@pytest.mark.parametrize(
    ("sim", "listen"),
    [
        ("nhtsa", ["--port", "{port}"]),
        ("manufacturer", ["--port", "{port}"]),
        ("elm327", ["--tcp", "127.0.0.1:{port}"]),
        ("camera", ["--mjpeg", "127.0.0.1:{port}", "--kinds", "qrcode", "--degradations", "clean"]),
    ],
)
def test_simulator_port_in_use(sim: str, listen: list[str], busy_port: int) -> None:
    """Every simulator says it the same way (simulators/listening.py), not a traceback,
    not asyncio's "error while attempting to bind on address ...", and exits 1."""
    r = baygate("simulate", sim, *(a.format(port=busy_port) for a in listen), timeout=30)
    line = one_error_line(r)
    assert r.returncode == 1, r.stderr
    assert line == f"baygate simulate {sim}: cannot listen on 127.0.0.1:{busy_port}: Address already in use"


def test_schema_out_onto_a_file_or_an_unwritable_path(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("x")
    r = baygate("schema", "--out", str(tmp_path / "f"))
    assert r.returncode == 2 and "is a file" in one_error_line(r)
    (tmp_path / "ro").mkdir(mode=0o500)
    target = "/proc/baygate-schemas" if os.geteuid() == 0 else str(tmp_path / "ro/x")
    r = baygate("schema", "--out", target)
    assert r.returncode == 1 and target in one_error_line(r)


# --- a reader that goes away: no traceback, 141 (128 + SIGPIPE) -------------------------


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (["schema"], 141),
        (["vin", "decode", "1HGCM82633A004352", "--offline"], 141),
        (["registration", "list"], 141),
        # argparse's help printer ignores a closed pipe itself and exits 0
        (["--help"], 0),
        (["simulate", "nhtsa", "--help"], 0),
    ],
)
def test_a_closed_pipe_is_not_a_traceback(tmp_path: Path, args: list[str], code: int) -> None:
    args = ["--config", str(config(tmp_path)), *args]
    read, write = os.pipe()
    os.close(read)  # `| head` that already exited
    try:
        p = subprocess.run(
            [BAYGATE, *args], stdout=write, stderr=subprocess.PIPE, text=True, timeout=60, check=False
        )
    finally:
        os.close(write)
    assert p.stderr == ""
    assert p.returncode == code


# --- every subcommand with a bad input ----------------------------------------------


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (["run"], 2),  # with the RPMX config below
        (["demo", "--keep", "extra"], 2),
        (["simulate", "nhtsa", "--port", "70000"], 2),
        (["simulate", "manufacturer", "--latency-ms", "-5"], 2),
        (["backend", "--stats", "--db", "{tmp}/nope/x.db"], 1),
        (["obd", "discover", "--timeout", "-5"], 2),
        (["obd", "read", "--url", "tcp://127.0.0.1:1", "--timeout", "-5"], 2),
        (["obd", "watch", "--url", "tcp://127.0.0.1:1", "--pids", "RPM", "--duration", "-1"], 2),
        (["scan", "camera", "--source", "sim:", "--duration", "-1"], 2),
        (["scan", "image", "{tmp}/no-such.png"], 1),
        (["vin", "decode", "1HGCM82633A004352", "--year", "99"], 2),
        (["registration", "show", "no-such-id"], 1),
        (["doctor"], 2),  # with the RPMX config below
        (["schema", "--out", "{tmp}/agent.toml"], 2),
    ],
)
def test_every_subcommand_answers_bad_input_with_one_line(tmp_path: Path, args: list[str], code: int) -> None:
    cfg = config(tmp_path, '[obd]\ntelemetry_pids = ["RPMX"]' if args[0] in ("run", "doctor") else "")
    r = baygate("--config", str(cfg), *[a.format(tmp=tmp_path) for a in args], timeout=60)
    assert r.returncode == code, r.stderr
    one_error_line(r)
    assert not (tmp_path / "nope").exists()  # --stats never creates a database


def test_config_is_accepted_after_the_subcommand_too(tmp_path: Path) -> None:
    r = baygate("doctor", "--config", str(config(tmp_path, '[obd]\ntelemetry_pids = ["RPMX"]')))
    assert r.returncode == 2 and "obd.telemetry_pids" in one_error_line(r)


def test_a_second_backend_with_the_same_client_id_is_refused(tmp_path: Path, broker: Broker) -> None:
    def start(n: int) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [BAYGATE, "backend", "--mqtt", broker.url, "--client-id", "same-id",
             "--db", str(tmp_path / f"{n}.db")],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip

    first = start(1)
    try:
        deadline = time.monotonic() + 30
        while not (tmp_path / "1.db").exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(1.0)  # connected by now (the store opens before the connection)
        second = start(2)
        try:
            _, err = first.communicate(timeout=30)
            assert first.returncode == 1
            lines = [ln for ln in err.splitlines() if "took this session over" in ln]
            assert len(lines) == 1 and "same-id" in lines[0]
            assert "Traceback" not in err
            time.sleep(2.0)
            assert second.poll() is None  # the survivor keeps running, not kicked off
        finally:
            second.terminate()
            second.communicate(timeout=30)
    finally:
        if first.poll() is None:
            first.kill()
            first.communicate()
