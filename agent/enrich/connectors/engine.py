"""The generic connector engine: runs a connector's `api`, `form` and `manual` methods.

Every remote call goes through the shared Resilience (breaker per host, limiter, retry).
Outcomes are typed so the registrar can decide: success / partial -> done;
not_found / failed -> try the next method; transient -> retry later; manual -> assist.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Literal
from urllib.parse import urlsplit, urlunsplit

import httpx

from agent.enrich.answer import parse_answer
from agent.enrich.connectors.auth import Credentials
from agent.enrich.connectors.spec import ApiMethod, FormMethod, ManualMethod
from agent.enrich.errors import AuthError, DataError, EnrichError, RemoteError
from agent.enrich.resilience import Resilience, send

__all__ = ["Engine", "Outcome", "Product", "dig", "render"]

OutcomeKind = Literal["success", "partial", "not_found", "failed", "transient", "manual"]


@dataclass(frozen=True)
class Product:
    """Our universal product data; connectors map it onto each manufacturer's fields."""

    serial: str
    model: str = ""
    purchase_date: str = ""
    name: str = ""
    email: str = ""
    shop: str = ""
    gtin: str = ""

    def values(self) -> dict[str, str]:
        return asdict(self)


@dataclass(frozen=True)
class Outcome:
    kind: OutcomeKind
    data: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    manual: dict[str, Any] | None = None


class _Defaults(dict[str, str]):
    def __missing__(self, key: str) -> str:
        return ""


def render(template: str, values: Mapping[str, str]) -> str:
    """'{serial}' style templates; unknown names render empty, never raise."""
    try:
        return template.format_map(_Defaults(values))
    except (ValueError, IndexError, AttributeError):
        return template


def dig(doc: Any, path: str) -> Any:
    """Dotted path with list indices ('entitlements.-1.endDate'); None when absent."""
    cur = doc
    for part in [p for p in path.split(".") if p]:
        if isinstance(cur, dict):
            cur = cur.get(part)
        elif isinstance(cur, list):
            try:
                cur = cur[int(part)]
            except (ValueError, IndexError):
                return None
        else:
            return None
    return cur


def _rebase(url: str, base: str | None) -> str:
    """Swap scheme and host for the override (the demo's fake server), keep the path."""
    if not base:
        return url
    b, u = urlsplit(base), urlsplit(url)
    return urlunsplit((b.scheme, b.netloc, u.path, u.query, ""))


def _failure(exc: EnrichError) -> Outcome:
    if isinstance(exc, AuthError):
        return Outcome("failed", error=f"authentication failed: {exc}")
    if isinstance(exc, RemoteError) and exc.retryable:
        return Outcome("transient", error=str(exc))
    return Outcome("failed", error=str(exc))


class Engine:
    def __init__(
        self,
        resilience: Resilience,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        base_url_override: str | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.res = resilience
        self.override = base_url_override
        self.clock = clock
        self.http = httpx.AsyncClient(
            transport=transport, timeout=10.0, headers={"User-Agent": "baygate-agent"}
        )
        self.credentials = Credentials(self.http, resilience, clock)

    async def aclose(self) -> None:
        await self.http.aclose()

    def manual(self, method: ManualMethod, product: Product) -> Outcome:
        values = product.values()
        url = render(method.url, values)
        steps = [render(s, {**values, "url": url}) for s in method.steps]
        return Outcome("manual", manual={"url": url, "steps": steps})

    async def form(self, method: FormMethod, product: Product) -> Outcome:
        url = _rebase(method.url, self.override)
        data = {k: render(v, product.values()) for k, v in method.fields.items()}
        req = self.http.build_request("POST", url, data=data, timeout=method.timeout_s)

        async def attempt() -> str:
            return (await send(self.http, req, self.clock)).text

        try:
            page = await self.res.call(url, attempt)
        except EnrichError as exc:
            return _failure(exc)
        if method.error_text and method.error_text in page:
            return Outcome("failed", error=f"form rejected the submission ({method.error_text!r} on page)")
        if method.success_text in page:
            return Outcome("success", data={"confirmation": method.success_text})
        if "captcha" in page.lower():
            return Outcome("failed", error="form requires a CAPTCHA")
        return Outcome("failed", error="form answer shows neither success nor error text")

    async def api(self, method: ApiMethod, products: list[Product]) -> dict[str, Outcome]:
        """Outcome per serial; products go out in batches of `method.batch_size`."""
        out: dict[str, Outcome] = {}
        for i in range(0, len(products), method.batch_size):
            chunk = products[i : i + method.batch_size]
            out.update(await self._api_batch(method, chunk))
        return out

    async def _api_batch(self, method: ApiMethod, chunk: list[Product]) -> dict[str, Outcome]:
        token_url = _rebase(method.auth.token_url, self.override) if method.auth.token_url else None
        try:
            doc = await self._api_call(method, chunk, token_url)
        except AuthError as first:
            if method.auth.type != "oauth2_client_credentials" or "token endpoint" in str(first):
                return {p.serial: _failure(first) for p in chunk}
            # The API refused a cached token (revoked or expired early): one fresh token, once.
            self.credentials.invalidate(method.auth, token_url)
            try:
                doc = await self._api_call(method, chunk, token_url)
            except EnrichError as exc:
                return {p.serial: _failure(exc) for p in chunk}
        except EnrichError as exc:
            return {p.serial: _failure(exc) for p in chunk}
        return self._map(method, chunk, doc)

    async def _api_call(self, method: ApiMethod, chunk: list[Product], token_url: str | None) -> Any:
        r = method.request
        url = _rebase(method.base_url.rstrip("/") + "/" + r.path.lstrip("/"), self.override)
        values = {**chunk[0].values(), "serials": ",".join(p.serial for p in chunk)}
        headers = {k: render(v, values) for k, v in r.headers.items()}
        headers.update(await self.credentials.headers(method.auth, token_url))
        params = {k: render(v, values) for k, v in r.query.items()}
        body: Any = None
        if r.json_items is not None:
            items = [{k: render(v, p.values()) for k, v in r.json_items.items()} for p in chunk]
            body = {r.json_wrap: items} if r.json_wrap else items
        req = self.http.build_request(
            r.method, url, params=params, json=body, headers=headers, timeout=method.timeout_s
        )

        async def attempt() -> Any:
            resp = await send(self.http, req, self.clock)
            return parse_answer(resp.content, f"{url} answer")

        return await self.res.call(url, attempt)

    def _map(self, method: ApiMethod, chunk: list[Product], doc: Any) -> dict[str, Outcome]:
        spec = method.response
        items = dig(doc, spec.items) if spec.items else doc
        if isinstance(items, dict):
            items = [items]  # an API that answers one object per serial
        if not isinstance(items, list):
            err = DataError(f"answer has no list at {spec.items or '(root)'!r}")
            return {p.serial: Outcome("transient", error=str(err)) for p in chunk}
        by_serial = {str(it.get(spec.match, "")).upper(): it for it in items if isinstance(it, dict)}
        out: dict[str, Outcome] = {}
        for p in chunk:
            item = by_serial.get(p.serial.upper())
            if item is None:
                out[p.serial] = Outcome("not_found", error="manufacturer does not know this serial")
                continue
            data = {name: dig(item, path) for name, path in spec.fields.items()}
            missing = [k for k in spec.required if data.get(k) in (None, "")]
            if missing:
                out[p.serial] = Outcome("partial", data=data, error="missing " + ", ".join(missing))
            else:
                out[p.serial] = Outcome("success", data=data)
        return out
