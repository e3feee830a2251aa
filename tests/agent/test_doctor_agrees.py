"""`doctor` agrees with `run`: what run refuses, doctor fails (or the config load refuses
both, exit 2); what run goes on without, doctor warns about. Real commands, real broker."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from tests.agent.test_cli_errors import baygate, config
from tests.support.broker import Broker, free_port

BAYGATE = str(Path(sys.executable).parent / "baygate")


def doctor(cfg: Path) -> dict[str, str]:
    r = baygate("--config", str(cfg), "doctor", "--json", timeout=60)
    return {c["name"]: c["status"] for c in json.loads(r.stdout)["checks"]}


def test_what_run_goes_on_without_is_a_doctor_warning(tmp_path: Path, broker: Broker) -> None:
    closed = free_port()  # nothing listens here: a switched-off dongle, an unreachable NHTSA
    api = free_port()
    cfg = tmp_path / "agent.toml"
    cfg.write_text(
        f'[agent]\nshop_id = "shop-1"\nagent_id = "bay-1"\nstate_dir = "{tmp_path / "state"}"\n'
        f'[[obd.dongles]]\nname = "wifi"\nurl = "tcp://127.0.0.1:{closed}"\n'
        f'[enrich]\nmanufacturers_dir = "{tmp_path / "no-such-dir"}"\n'
        f'[enrich.nhtsa]\nvpic_url = "http://127.0.0.1:{closed}/api/vehicles/"\n'
        f'recalls_url = "http://127.0.0.1:{closed}/"\n'
        f'[mqtt]\nurl = "{broker.url}"\n[api]\nport = {api}\n'
    )
    verdict = doctor(cfg)
    assert verdict["dongle_network"] == "warn"
    assert verdict["manufacturers"] == "warn"
    assert verdict["remote_services"] == "warn"
    assert verdict["mqtt_config"] == "pass" and verdict["broker"] == "pass"

    run = subprocess.Popen(
        [BAYGATE, "--config", str(cfg), "run"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        deadline, status = time.monotonic() + 60, 0
        while time.monotonic() < deadline and run.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{api}/health", timeout=2) as r:
                    status = r.status
                    break
            except OSError:
                time.sleep(0.3)
        assert status == 200  # the agent runs (warn is 200) and keeps retrying
        time.sleep(2)
        assert run.poll() is None
    finally:
        run.terminate()
        _, err = run.communicate(timeout=30)
    assert "Traceback" not in err


def test_a_config_without_mqtt_section_is_a_doctor_warning(tmp_path: Path) -> None:
    cfg = config(tmp_path)
    cfg.write_text(cfg.read_text().split("[mqtt]")[0] + f"[api]\nport = {free_port()}\n")
    assert doctor(cfg)["mqtt_config"] == "warn"


def test_what_run_refuses_doctor_fails(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    cfg = config(tmp_path)
    text = cfg.read_text().replace(str(tmp_path / "state"), str(tmp_path / "file/state"))
    cfg.write_text(text.replace("[api]", 'password = "env:BAYGATE_TEST_NO_SUCH_VAR"\n[api]'))
    verdict = doctor(cfg)
    assert verdict["state_dir"] == "fail" and verdict["secrets"] == "fail"
    r = baygate("--config", str(cfg), "run", timeout=30)
    assert r.returncode == 2
