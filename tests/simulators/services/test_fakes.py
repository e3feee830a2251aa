"""The fake services as products: real HTTP, documented shapes, every fault on request."""

from __future__ import annotations

import http.client
import json
import socket
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from simulators.services.cli import _plan, nhtsa_main
from simulators.services.faults import parse_fault
from simulators.services.manufacturer import ManufacturerApp
from simulators.services.server import ServiceServer
from simulators.services.vpic import VPIC_KEYS, NhtsaApp

TESLA = "5YJ3E1EA2KF317000"


@pytest.fixture
def vpic() -> Iterator[ServiceServer]:
    with ServiceServer(NhtsaApp(), hang_s=1.0) as srv:
        yield srv


def get(
    srv: ServiceServer, path: str, headers: dict[str, str] | None = None, body: bytes | None = None,
    timeout: float = 5.0,
) -> tuple[int, dict[str, str], bytes]:  # fmt: skip
    conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=timeout)
    try:
        conn.request("POST" if body is not None else "GET", path, body=body, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, dict(resp.getheaders()), resp.read()
    finally:
        conn.close()


def test_decode_has_the_flat_vpic_shape(vpic: ServiceServer) -> None:
    status, headers, body = get(vpic, f"/api/vehicles/DecodeVinValues/{TESLA}?format=json&modelyear=2019")
    doc = json.loads(body)
    assert status == 200 and headers["Content-Type"].startswith("application/json")
    (row,) = doc["Results"]
    assert doc["Count"] == len(VPIC_KEYS) == len(row) and len(row) >= 134
    assert all(isinstance(v, str) for v in row.values())  # vPIC sends strings, "" when unknown
    assert (row["Make"], row["Model"], row["ModelYear"], row["ErrorCode"]) == (
        "TESLA",
        "Model 3",
        "2019",
        "0",
    )


def test_batch_endpoint_takes_a_form_and_enforces_50(vpic: ServiceServer) -> None:
    data = "format=json&data=" + ";".join([f"{TESLA},2019", "1HGCM82633A004352"])
    hdrs = {"Content-Type": "application/x-www-form-urlencoded"}
    status, _, body = get(vpic, "/api/vehicles/DecodeVINValuesBatch/", hdrs, data.encode())
    assert status == 200 and [r["Model"] for r in json.loads(body)["Results"]] == ["Model 3", "Accord"]
    too_many = "format=json&data=" + ";".join([TESLA] * 51)
    assert get(vpic, "/api/vehicles/DecodeVINValuesBatch/", hdrs, too_many.encode())[0] == 400


def test_error_codes_for_bad_vins(vpic: ServiceServer) -> None:
    row = json.loads(get(vpic, "/api/vehicles/DecodeVinValues/5YJ3E1EA3KF317000")[2])["Results"][0]
    assert row["ErrorCode"] == "1" and row["SuggestedVIN"] == TESLA
    row = json.loads(get(vpic, "/api/vehicles/DecodeVinValues/5YJ3E1EA2KF31700O")[2])["Results"][0]
    assert "400" in row["ErrorCode"].split(",")


def test_recalls_use_lowercase_results_and_their_own_model_names(vpic: ServiceServer) -> None:
    q = "/recalls/recallsByVehicle?make=chevrolet&model={}&modelYear=2019"
    assert json.loads(get(vpic, q.format("silverado"))[2]) == {
        "Count": 0, "Message": "Results returned successfully", "results": []}  # fmt: skip
    doc = json.loads(get(vpic, q.format("silverado%201500"))[2])
    assert doc["Count"] == 1 and doc["results"][0]["NHTSACampaignNumber"] == "19V645000"
    assert doc["results"][0]["ReportReceivedDate"] == "06/09/2019"


@pytest.mark.parametrize(
    ("fault", "status", "check"),
    [
        ("503:7", 503, lambda h, b: h["Retry-After"] == "7"),
        ("429", 429, lambda h, b: h["Retry-After"] == "1"),
        ("401", 401, lambda h, b: True),
        ("403", 403, lambda h, b: True),
        ("html", 200, lambda h, b: b.startswith(b"<!DOCTYPE html>")),
        ("truncated", 200, lambda h, b: b.startswith(b'{"Count"') and not b.endswith(b"}")),
        ("garbage", 200, lambda h, b: b[:1] == b"\x00"),
    ],
)
def test_faults_by_header(vpic: ServiceServer, fault: str, status: int, check: Any) -> None:
    st, headers, body = get(vpic, f"/api/vehicles/DecodeVinValues/{TESLA}", {"X-Fault": fault})
    assert st == status and check(headers, body)


def test_timeout_and_reset_send_nothing(vpic: ServiceServer) -> None:
    with pytest.raises(TimeoutError):
        get(vpic, f"/api/vehicles/DecodeVinValues/{TESLA}", {"X-Fault": "timeout"}, timeout=0.2)
    with pytest.raises((http.client.RemoteDisconnected, ConnectionError)):
        get(vpic, f"/api/vehicles/DecodeVinValues/{TESLA}", {"X-Fault": "reset"})


def test_admin_queue_persistent_and_stats(vpic: ServiceServer) -> None:
    body = json.dumps({"queue": ["503", "ok"], "persistent": "429"}).encode()
    assert get(vpic, "/_admin/faults", {}, body)[0] == 200
    codes = [get(vpic, f"/api/vehicles/DecodeVinValues/{TESLA}")[0] for _ in range(3)]
    assert codes == [503, 200, 429]
    stats = json.loads(get(vpic, "/_admin/stats")[2])
    assert stats["requests"] == 3 and stats["faults"]["persistent"] == "429"
    get(vpic, "/_admin/reset", {}, b"")
    assert get(vpic, f"/api/vehicles/DecodeVinValues/{TESLA}")[0] == 200
    assert get(vpic, "/_admin/faults", {}, b'{"queue": ["bogus"]}')[0] == 400


def test_manufacturer_oauth_then_warranty() -> None:
    with ServiceServer(ManufacturerApp()) as srv:
        form = b"grant_type=client_credentials&client_id=baygate-demo&client_secret=demo-secret"
        hdrs = {"Content-Type": "application/x-www-form-urlencoded"}
        st, _, body = get(srv, "/auth/oauth/v2/token", hdrs, form)
        token = json.loads(body)["access_token"]
        assert st == 200
        bad = get(srv, "/auth/oauth/v2/token", hdrs, form.replace(b"demo-secret", b"nope"))
        assert bad[0] == 401
        path = "/PROD/sbil/eapi/v5/asset-entitlements?servicetags=7XKQ9R2,0000000"
        assert get(srv, path)[0] == 401  # no token
        st, _, body = get(srv, path, {"Authorization": f"Bearer {token}"})
        items = json.loads(body)
        assert st == 200 and [i["serviceTag"] for i in items] == ["7XKQ9R2"]
        page = get(srv, "/register/lg")[2]
        assert b"<form" in page
        done = get(srv, "/register/lg", hdrs, b"serial=905KWXX1A234&model=OLED55")[2]
        assert b"Thank you for registering" in done


def test_fault_specs_and_cli_plan() -> None:
    assert parse_fault("503:2.5").retry_after == 2.5
    with pytest.raises(ValueError):
        parse_fault("418")
    import argparse

    plan = _plan(argparse.Namespace(fault=["503", "ok", "429"], latency_ms=5.0))
    assert [f.kind for f in plan.queue] == ["503", "ok"] and plan.persistent is not None
    assert plan.persistent.kind == "429" and plan.latency_ms == 5.0
    with pytest.raises(SystemExit):
        nhtsa_main(["--fault", "teapot"])


def test_cli_serves_until_interrupted() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        [sys.executable, "-m", "agent", "simulate", "nhtsa", "--port", str(port), "--fault", "503:3"],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert f"127.0.0.1:{port}" in line
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        conn.request("GET", f"/api/vehicles/DecodeVinValues/{TESLA}")
        resp = conn.getresponse()
        assert resp.status == 503 and resp.getheader("Retry-After") == "3"
        conn.close()
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        if proc.stdout:
            proc.stdout.close()
