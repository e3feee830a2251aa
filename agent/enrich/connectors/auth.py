"""Credentials for connector calls: OAuth2 client credentials (cached, refreshed), API-key
header, HTTP Basic. Secrets are read through agent.secret.Secret at use time, so a
rotated credentials file is picked up on the next token refresh.
"""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import Callable

import httpx

from agent.enrich.answer import parse_answer
from agent.enrich.connectors.spec import AuthSpec
from agent.enrich.errors import AuthError, ConnectorConfigError, DataError
from agent.enrich.resilience import Resilience, send
from agent.errors import ConfigError
from agent.secret import Secret

__all__ = ["Credentials"]

# Refresh a token this long before the server says it expires: a request signed with
# a token in its last seconds may arrive after expiry.
EXPIRY_MARGIN_S = 60.0


def _reveal(ref: str | None, what: str) -> str:
    if not ref:
        raise ConnectorConfigError(f"auth.{what} is not configured")
    try:
        return Secret(ref).reveal()
    except ConfigError as exc:
        raise ConnectorConfigError(f"auth.{what}: {exc.message}") from None


class Credentials:
    def __init__(
        self, http: httpx.AsyncClient, resilience: Resilience, clock: Callable[[], float] = time.time
    ) -> None:
        self.http = http
        self.res = resilience
        self.clock = clock
        self._tokens: dict[tuple[str, str], tuple[str, float]] = {}
        self._locks: dict[tuple[str, str], asyncio.Lock] = {}
        self.token_requests = 0

    async def headers(self, auth: AuthSpec, token_url: str | None) -> dict[str, str]:
        if auth.type == "none":
            return {}
        if auth.type == "api_key":
            return {auth.header: _reveal(auth.key, "key")}
        if auth.type == "basic":
            raw = f"{_reveal(auth.username, 'username')}:{_reveal(auth.password, 'password')}"
            return {"Authorization": "Basic " + base64.b64encode(raw.encode()).decode()}
        return {"Authorization": "Bearer " + await self.token(auth, token_url or auth.token_url or "")}

    def invalidate(self, auth: AuthSpec, token_url: str | None) -> None:
        self._tokens.pop((token_url or auth.token_url or "", auth.client_id or ""), None)

    async def token(self, auth: AuthSpec, token_url: str) -> str:
        if not token_url:
            raise ConnectorConfigError("auth.token_url is required for oauth2_client_credentials")
        key = (token_url, auth.client_id or "")
        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:  # one refresh at a time; the others reuse its token
            cached = self._tokens.get(key)
            if cached and cached[1] > self.clock():
                return cached[0]
            token, ttl = await self._fetch(auth, token_url)
            self._tokens[key] = (token, self.clock() + max(0.0, ttl - EXPIRY_MARGIN_S))
            return token

    async def _fetch(self, auth: AuthSpec, token_url: str) -> tuple[str, float]:
        cid, secret = _reveal(auth.client_id, "client_id"), _reveal(auth.client_secret, "client_secret")
        form = {"grant_type": "client_credentials", **({"scope": auth.scope} if auth.scope else {})}
        basic = base64.b64encode(f"{cid}:{secret}".encode()).decode()
        req = self.http.build_request(
            "POST", token_url, data=form, headers={"Authorization": f"Basic {basic}"}
        )

        async def attempt() -> tuple[str, float]:
            self.token_requests += 1
            try:
                resp = await send(self.http, req, self.clock)
            except AuthError as exc:
                raise AuthError(
                    exc.status, exc.url, "token endpoint rejected the client credentials"
                ) from None
            doc = parse_answer(resp.content, "token endpoint answer")
            try:
                return str(doc["access_token"]), float(doc.get("expires_in", 3600))
            except (ValueError, KeyError, TypeError):
                raise DataError("token endpoint answer has no access_token") from None

        return await self.res.call(token_url, attempt)
