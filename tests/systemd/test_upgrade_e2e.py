"""Upgrades in waves, end to end: `baygate fleet upgrade` (a process) orders a release
over a real Mosquitto, signed; the installed agent (`baygate run` from a release venv
built by baygate-release.sh) fetches the wheelhouse tarball from a loopback HTTP
server, verifies and stages it; the path unit's part is played by `PathUnit` below,
which does what systemd does with baygate-upgrade.path: when the request file exists,
it runs the installed baygate-upgrade.service's ExecStart (as the test's user, paths
under the test's root), i.e. the release script's health-gated upgrade with the
stand-in systemctl; the restarted agent reports the result and the CLI prints it. A
release that fails its health gate is rolled back and stops the rollout before the
next agent. The quick tests check the privileged side's refusals.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from agent.config import parse_config
from agent.pipelines.sink import Pipeline
from agent.service.runtime import Runtime
from sync.provision import BACKEND_USER
from tests.conftest import SecureBroker
from tests.support.broker import free_port
from tests.support.release import REPO, current, health_version, real_wheelhouse, release
from tests.support.sync import running, until
from tests.support.upgrade import Served, serve, sha256_of, tar_wheelhouse, tiny_stage


class PathUnit:
    """baygate-upgrade.path + baygate-upgrade.service, as systemd would run them:
    PathExists= on the request, then the installed unit's ExecStart."""

    def __init__(self, env: dict[str, str], state: Path) -> None:
        self.env, self.request = env, state / "upgrades" / "request"
        self.root = Path(env["BAYGATE_ROOT"])
        self.runs: list[subprocess.CompletedProcess[str]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="path-unit", daemon=True)

    def __enter__(self) -> PathUnit:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(600)

    def exec_start(self) -> list[str]:
        unit = (self.root / "etc/systemd/system/baygate-upgrade.service").read_text()
        m = re.search(r"^ExecStart=(.*)$", unit, flags=re.M)
        assert m, unit
        return [
            str(self.root) + a if a.startswith(("/opt/", "/var/", "/etc/")) else a for a in m.group(1).split()
        ]

    def _watch(self) -> None:
        while not self._stop.wait(0.2):  # inotify's granularity does not matter here
            if self.request.exists():
                self.runs.append(
                    subprocess.run(
                        self.exec_start(), env=self.env, capture_output=True, text=True, check=False
                    )
                )


def agent_toml(root: Path, sb: SecureBroker, shop: str, agent: str, port: int) -> str:
    ident = sb.add_agent(shop, agent)
    return (
        f'[agent]\nshop_id = "{shop}"\nagent_id = "{agent}"\nstate_dir = "{root}/var/lib/baygate"\n'
        f"[enrich]\nenabled = false\n"
        f'[mqtt]\nurl = "{sb.url}"\nusername = "{ident.username}"\npassword = "{ident.password}"\n'
        f'auth_key = "file:{ident.key_file}"\n'
        f"[api]\nport = {port}\n"
    )


def fleet_upgrade(sb: SecureBroker, pw: Path, *args: str) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "agent", "fleet", "upgrade", "--mqtt", sb.url,
            "--keys-dir", str(sb.keys_dir), "--username", BACKEND_USER, "--password-file", str(pw),
            "--timeout", "500", "--poll", "1", *args]  # fmt: skip
    return subprocess.run(argv, capture_output=True, text=True, timeout=700, cwd=REPO, check=False)


@pytest.mark.slow
@pytest.mark.timeout(1200)  # three real venvs of the locked set and two health gates
@pytest.mark.anyio
async def test_a_release_rolls_out_and_a_failing_one_rolls_back_and_stops_the_wave(
    env: dict[str, str], tmp_path: Path, locked_wheels: Path, secure_broker: SecureBroker
) -> None:
    root = Path(env["BAYGATE_ROOT"])
    state = root / "var/lib/baygate"
    port = free_port()
    (root / "etc/baygate").mkdir(parents=True)
    (root / "etc/baygate/agent.toml").write_text(agent_toml(root, secure_broker, "shop-up", "bay-1", port))
    pw = tmp_path / "backend.pw"
    pw.write_text(secure_broker.backend_password)

    r = await asyncio.to_thread(
        release, env, "install", str(real_wheelhouse(tmp_path, locked_wheels, "1.0.0"))
    )
    assert r.returncode == 0, r.stdout + r.stderr + (root / "baygate.log").read_text()
    assert (root / "opt/baygate/libexec/baygate-release.sh").is_file()
    assert "enable --now baygate-upgrade.path" in (tmp_path / "systemctl.log").read_text()

    # A second agent (in this process) that the broken release must never reach.
    other_state = tmp_path / "other"
    ident2 = secure_broker.add_agent("shop-up", "bay-2")
    other_cfg = parse_config(
        {"agent": {"shop_id": "shop-up", "agent_id": "bay-2", "state_dir": str(other_state)},
         "mqtt": {"url": secure_broker.url, "username": ident2.username, "password": ident2.password,
                  "auth_key": f"file:{ident2.key_file}"}},
        environ={},
    )  # fmt: skip

    def nothing(_: object) -> list[Pipeline]:
        return []

    other = Runtime(other_cfg, pipelines_for=nothing, backoff_min_s=0.05, backoff_max_s=0.5)

    tars = {}
    for version, broken in (("1.1.0", False), ("1.2.0", True)):
        wh = await asyncio.to_thread(real_wheelhouse, tmp_path, locked_wheels, version, broken)
        tars[version] = await asyncio.to_thread(tar_wheelhouse, wh, tmp_path / f"baygate-{version}.tar")
    size_mb = len(tars["1.1.0"]) / 1e6
    print(f"wheelhouse tarball: {size_mb:.0f} MB")  # the figure MAX_WHEELHOUSE_BYTES is sized from

    with (
        serve(Served({f"/baygate-{v}.tar": d for v, d in tars.items()})) as s,
        PathUnit(env, state) as unit,
    ):
        ok = await asyncio.to_thread(
            fleet_upgrade, secure_broker, pw, "--version", "1.1.0", "--url", f"{s.base}/baygate-1.1.0.tar",
            "--sha256", sha256_of(tars["1.1.0"]), "--agent", "shop-up/bay-1",
        )  # fmt: skip
        runs = "\n".join(u.stdout + u.stderr for u in unit.runs)
        assert ok.returncode == 0, ok.stdout + ok.stderr + runs + (root / "baygate.log").read_text()
        assert ok.stdout.strip() == "shop-up/bay-1: upgraded 1.0.0 -> 1.1.0"
        assert current(env) == "releases/1.1.0" and health_version(port) == "1.1.0"
        result = json.loads((state / "upgrades/result.json").read_text())
        assert result["status"] == "ok" and result["from"] == "1.0.0" and result["running"] == "1.1.0"
        assert not (state / "upgrades/1.1.0").exists() and not (state / "upgrades/request").exists()

        # 1.2.0 installs but cannot start: rolled back on the canary, bay-2 never asked.
        env["HEALTH_TIMEOUT_S"] = "8"
        async with running(other.run):
            await until(lambda: other.link is not None and other.link.connected, what="bay-2 up")
            bad = await asyncio.to_thread(
                fleet_upgrade, secure_broker, pw, "--version", "1.2.0", "--url",
                f"{s.base}/baygate-1.2.0.tar", "--sha256", sha256_of(tars["1.2.0"]),
                "--canary", "shop-up/bay-1", "--agent", "shop-up/bay-2",
            )  # fmt: skip
        runs = "\n".join(u.stdout + u.stderr for u in unit.runs)
        assert bad.returncode == 1, bad.stdout + bad.stderr + runs
        lines = bad.stdout.strip().splitlines()
        assert lines[0] == (
            "shop-up/bay-1: rolled back to 1.1.0: "
            "baygate-release: upgrade to 1.2.0 failed; running 1.1.0 again"
        ), bad.stdout
        assert lines[1] == "shop-up/bay-2: not attempted (rollout stopped)"
        assert "stopped at shop-up/bay-1: rolled back" in bad.stderr
    assert len(unit.runs) == 2
    assert current(env) == "releases/1.1.0" and health_version(port) == "1.1.0"
    assert not (other_state / "upgrades").exists()
    assert s.hits == ["/baygate-1.1.0.tar", "/baygate-1.2.0.tar"]


def stage(state: Path, request: dict[str, str], wheelhouse: Path | None = None) -> Path:
    up = state / "upgrades"
    up.mkdir(parents=True)
    if wheelhouse is not None:
        wheelhouse.rename(up / request["version"])
    (up / "request").write_text(json.dumps(request))
    return up


def test_a_request_naming_a_path_is_refused_and_nothing_runs(env: dict[str, str], tmp_path: Path) -> None:
    state = tmp_path / "state"
    up = stage(state, {"id": "0123456789abcdef", "version": "../../../tmp/evil"})
    r = release(env, "apply-request", str(state))
    assert r.returncode == 1 and "unreadable upgrade request" in r.stderr
    assert not (up / "result.json").exists() and not (up / "request").exists()  # taken: no retrigger
    assert not (up / "request.taken").exists()  # or the agent would stay "busy" for good
    assert not Path(env["LOG"]).exists()  # systemctl never called


def test_a_request_that_is_a_link_is_not_followed(env: dict[str, str], tmp_path: Path) -> None:
    secret = tmp_path / "secret.json"
    secret.write_text(json.dumps({"id": "0123456789abcdef", "version": "1.1.0"}))
    up = tmp_path / "state/upgrades"
    up.mkdir(parents=True)
    (up / "request").symlink_to(secret)
    r = release(env, "apply-request", str(tmp_path / "state"))
    assert r.returncode == 1 and "unreadable upgrade request" in r.stderr


def test_a_failed_build_is_reported_and_a_planted_link_is_replaced_not_followed(
    env: dict[str, str], tmp_path: Path
) -> None:
    """Nothing is installed yet, so the script stops: `failed`, with its reason. The
    agent's directory is the agent's: result.json is written without following links."""
    victim = tmp_path / "victim"
    victim.write_text("root's file\n")
    state = tmp_path / "state"
    up = stage(state, {"id": "0123456789abcdef", "version": "1.1.0"}, tiny_stage(tmp_path, "1.1.0"))
    (up / "result.json").symlink_to(victim)
    r = release(env, "apply-request", str(state))
    assert r.returncode == 0, r.stdout + r.stderr  # the outcome is in result.json, not the exit code
    assert victim.read_text() == "root's file\n"
    assert not (up / "result.json").is_symlink()
    result = json.loads((up / "result.json").read_text())
    assert result["id"] == "0123456789abcdef" and result["status"] == "failed"
    assert "nothing installed yet" in result["detail"]
    assert (os.stat(up / "result.json").st_mode & 0o777) == 0o644
    assert (
        not (up / "1.1.0").exists() and not (up / "request").exists() and not (up / "request.taken").exists()
    )


def test_without_a_request_it_does_nothing(env: dict[str, str], tmp_path: Path) -> None:
    r = release(env, "apply-request", str(tmp_path / "state"))
    assert r.returncode == 0 and "no upgrade request" in r.stdout
    assert not Path(env["LOG"]).exists()
