"""The fake manufacturer site: OAuth2 token endpoint, Dell/HP-style warranty APIs, an
API-key endpoint and an HTML registration form.

  POST .../token                             client_credentials (form or HTTP Basic)
  GET  .../asset-entitlements                ?servicetags=A,B  (Bearer; Dell-style)
  POST .../productwarranty/v2/queries        JSON [{"sn": ...}] (Bearer; HP-style)
  GET  .../keyed/v1/warranty                 ?serial=S  (X-Api-Key header)
  GET  .../register/<brand>                  HTML form
  POST .../register/<brand>                  form fields serial, model, email, purchase_date

Paths match by suffix, so a connector's real base URL keeps its path when only the
host is swapped for this server's (`enrich.manufacturer_base_url`).

Serials listed in data/products.json answer their data; a serial containing NOTFOUND (or
the Dell tag 0000000) is unknown; one containing PARTIAL has no warranty end date;
anything else gets a generic one-year warranty.
"""

from __future__ import annotations

import base64
import json
import secrets
import threading
import time
from functools import cache
from html import escape
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from simulators.services.server import Reply, Request, json_reply

__all__ = ["ManufacturerApp"]

DATA = Path(__file__).with_name("data")

FORM_PAGE = """<!DOCTYPE html><html><head><title>{brand} product registration</title></head><body>
<h1>Register your {brand} product</h1>
<form method="post" action="/register/{brand}">
<label>Serial number <input name="serial" required></label>
<label>Model <input name="model"></label>
<label>E-mail <input name="email" type="email"></label>
<label>Purchase date <input name="purchase_date" type="date"></label>
<button type="submit">Register</button></form></body></html>"""


@cache
def _products() -> dict[str, dict[str, Any]]:
    data: dict[str, dict[str, Any]] = json.loads((DATA / "products.json").read_text())
    return data


def _unknown(serial: str) -> bool:
    return "NOTFOUND" in serial or serial == "0000000"


def _dell_item(tag: str) -> dict[str, Any] | None:
    if _unknown(tag):
        return None
    known = _products()["dell"].get(tag)
    if "PARTIAL" in tag:
        known = {"productLineDescription": "VOSTRO 3510", "shipDate": "2022-01-01", "entitlements": []}
    known = known or {
        "productLineDescription": "LATITUDE 5540",
        "shipDate": "2024-01-15T00:00:00Z",
        "entitlements": [
            {"serviceLevelDescription": "Basic", "startDate": "2024-01-15", "endDate": "2025-01-15T23:59:59Z"}
        ],
    }
    return {"serviceTag": tag, "invalid": False, **known}


def _hp_item(sn: str) -> dict[str, Any] | None:
    if _unknown(sn):
        return None
    known = _products()["hp"].get(sn)
    if "PARTIAL" in sn:
        known = {"productName": "HP ProDesk 400", "warrantyStartDate": "2022-01-01", "status": "Unknown"}
    known = known or {"productName": "HP ProBook 450", "warrantyStartDate": "2024-02-01",
                      "warrantyEndDate": "2025-01-31", "status": "Active"}  # fmt: skip
    return {"serialNumber": sn, **known}


class ManufacturerApp:
    def __init__(
        self,
        client_id: str = "baygate-demo",
        client_secret: str = "demo-secret",
        api_key: str = "demo-api-key",
        token_ttl_s: float = 3600.0,
    ) -> None:
        self.client_id = client_id
        self.client_secret = client_secret
        self.api_key = api_key
        self.token_ttl_s = token_ttl_s
        self._tokens: dict[str, float] = {}
        self._lock = threading.Lock()
        self.registrations: list[dict[str, str]] = []

    def __call__(self, req: Request) -> Reply:
        p = req.path.rstrip("/")
        if p.endswith("/token") and req.method == "POST":
            return self._token(req)
        if p.endswith("/asset-entitlements"):
            return self._authorised(req) or self._dell(req)
        if p.endswith("/productwarranty/v2/queries") and req.method == "POST":
            return self._authorised(req) or self._hp(req)
        if p.endswith("/keyed/v1/warranty"):
            if req.headers.get("X-Api-Key") != self.api_key:
                return json_reply({"error": "invalid api key"}, 401)
            item = _hp_item(req.arg("serial"))
            return json_reply(item) if item else json_reply({"error": "not found"}, 404)
        if "/register/" in p:
            return self._form(req, p.rsplit("/", 1)[-1])
        return json_reply({"error": "not found"}, 404)

    def revoke_tokens(self) -> None:
        """Forget every issued token (as a server restart or key rotation would)."""
        with self._lock:
            self._tokens.clear()

    def _token(self, req: Request) -> Reply:
        form = {k: v[0] for k, v in req.form().items() if v}
        cid, secret = form.get("client_id", ""), form.get("client_secret", "")
        auth = req.headers.get("Authorization", "")
        if auth.startswith("Basic "):
            try:
                cid, _, secret = base64.b64decode(auth[6:]).decode().partition(":")
            except ValueError:
                return json_reply({"error": "invalid_client"}, 401)
        if form.get("grant_type") != "client_credentials":
            return json_reply({"error": "unsupported_grant_type"}, 400)
        if (cid, secret) != (self.client_id, self.client_secret):
            return json_reply({"error": "invalid_client"}, 401)
        token = secrets.token_urlsafe(24)
        with self._lock:
            self._tokens[token] = time.monotonic() + self.token_ttl_s
        ttl = int(self.token_ttl_s)
        return json_reply({"access_token": token, "token_type": "Bearer", "expires_in": ttl})

    def _authorised(self, req: Request) -> Reply | None:
        auth = req.headers.get("Authorization", "")
        token = auth[7:] if auth.startswith("Bearer ") else ""
        with self._lock:
            expiry = self._tokens.get(token)
        if expiry is None or expiry < time.monotonic():
            return json_reply({"error": "invalid_token"}, 401)
        return None

    def _dell(self, req: Request) -> Reply:
        tags = [t.strip().upper() for t in req.arg("servicetags").split(",") if t.strip()]
        if not tags or len(tags) > 100:
            return json_reply({"error": "1 to 100 servicetags required"}, 400)
        return json_reply([i for i in (_dell_item(t) for t in tags) if i is not None])

    def _hp(self, req: Request) -> Reply:
        try:
            body = json.loads(req.body)
            sns = [str(x["sn"]) for x in body]
        except (ValueError, TypeError, KeyError):
            return json_reply({"error": "expected a JSON list of {sn}"}, 400)
        return json_reply({"results": [i for i in (_hp_item(s) for s in sns) if i is not None]})

    def _form(self, req: Request, brand: str) -> Reply:
        b = escape(brand)
        if req.method == "GET":
            return Reply(200, FORM_PAGE.format(brand=b).encode(), content_type="text/html")
        form = {k: v[0] for k, v in parse_qs(req.body.decode("utf-8", "replace")).items()}
        serial = form.get("serial", "").strip()
        if not serial or not serial.isalnum():
            why = f"There was an error: serial {escape(serial)!r} is invalid"
            page = f"<html><body><p class='error'>{why}</p></body></html>"
            return Reply(200, page.encode(), content_type="text/html")
        with self._lock:
            self.registrations.append({"brand": brand, **form})
            ref = f"{b.upper()}-{len(self.registrations):06d}"
        done = f"<h1>Thank you for registering</h1><p>Reference <b id='ref'>{ref}</b></p>"
        page = f"<html><body>{done}</body></html>"
        return Reply(200, page.encode(), content_type="text/html")
