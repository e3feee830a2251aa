"""doctor against a real broker, a closed port, and a non-broker."""

from __future__ import annotations

import socket
import threading
import tomllib
from pathlib import Path

from agent.config import EXAMPLE_CONFIG, parse_config
from agent.service.doctor import mqtt_connack, run_checks
from tests.support.broker import Broker, free_port

EXAMPLE = EXAMPLE_CONFIG


def config_for(url: str, state_dir: Path):  # type: ignore[no-untyped-def]
    data = tomllib.loads(EXAMPLE.read_text())
    data["agent"]["state_dir"] = str(state_dir)
    data["mqtt"]["url"] = url
    data["obd"]["dongles"] = []
    data["cameras"] = []
    return parse_config(data, environ={})


def by_name(checks):  # type: ignore[no-untyped-def]
    return {c.name: c for c in checks}


def test_broker_passes_when_mosquitto_answers(broker: Broker, state_dir: Path) -> None:
    assert mqtt_connack(broker.url) == 0
    checks = by_name(run_checks(config_for(broker.url, state_dir)))
    assert checks["broker"].status == "pass"
    assert checks["state_dir"].status == "pass"


def test_closed_port_fails_with_a_fix(state_dir: Path) -> None:
    checks = by_name(run_checks(config_for(f"mqtt://127.0.0.1:{free_port()}", state_dir)))
    assert checks["broker"].status == "fail"
    assert "broker" in checks["broker"].fix


def test_something_that_is_not_a_broker_fails_clearly(state_dir: Path) -> None:
    srv = socket.create_server(("127.0.0.1", 0))
    port = srv.getsockname()[1]

    def answer_http() -> None:
        conn, _ = srv.accept()
        with conn:
            conn.recv(64)
            conn.sendall(b"HTTP/1.0 400 Bad\r\n\r\n")

    t = threading.Thread(target=answer_http, daemon=True)
    t.start()
    checks = by_name(run_checks(config_for(f"mqtt://127.0.0.1:{port}", state_dir)))
    t.join(5)
    srv.close()
    assert checks["broker"].status == "fail"
    assert "not as an MQTT broker" in checks["broker"].detail


def test_unwritable_state_dir_fails(tmp_path: Path, broker: Broker) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    checks = by_name(run_checks(config_for(broker.url, blocker / "sub")))
    assert checks["state_dir"].status == "fail"


def test_ocr_and_zbar_present_on_this_machine(broker: Broker, state_dir: Path) -> None:
    # The PP-OCR models ship in the rapidocr wheel; make test installs libzbar0.
    checks = by_name(run_checks(config_for(broker.url, state_dir)))
    assert checks["ocr"].status == "pass"
    assert checks["zbar"].status == "pass"
