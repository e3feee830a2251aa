"""The bay screen's routes, mounted under /ui by the local web (agent/service/api.py).

Pages are one static shell (`static/index.html`) that renders from JSON; the JSON and
the server-sent events carry everything the page shows. Every route needs a token
(`?token=` once, then a SameSite=Strict cookie); actions need the `act` token.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from importlib import resources
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response, StreamingResponse
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from agent.pipelines.sink import RecordRefusedError
from agent.records import DtcClearRecord
from agent.ui.errors import NotFoundError, UiError, VisitStateError
from agent.ui.hub import ALL_BAYS, Event
from agent.ui.live import clear_json
from agent.ui.screen import BayScreen, visit_json
from agent.ui.tokens import Permission, Tokens

__all__ = ["COOKIE", "ClearCodes", "ui_routes"]

log = logging.getLogger("baygate.ui.web")

COOKIE = "baygate_ui"
HEARTBEAT_S = 15.0  # an SSE comment this often when quiet: a dead client is noticed at the write
MAX_BODY = 4096  # action bodies are a name or nothing

# Clear codes in a bay (after the page's confirmation): the committed dtc_clear record
# (cleared, refused or failed, with the reason), or None when no dongle serves the bay.
ClearCodes = Callable[[str], Awaitable[DtcClearRecord | None]]


def _static_dir() -> str:
    return str(resources.files("agent.ui") / "static")


def _permission(request: Request, tokens: Tokens) -> Permission | None:
    auth = request.headers.get("authorization", "")
    presented = (
        request.query_params.get("token")
        or (auth[7:] if auth.lower().startswith("bearer ") else None)
        or request.cookies.get(COOKIE)
    )
    return tokens.permission(presented)


def _deny(need: Permission) -> Response:
    msg = "this needs the action token" if need == "act" else "open the URL from `baygate ui url` (token)"
    return JSONResponse({"error": msg}, status_code=403 if need == "act" else 401)


def _sse(ev: Event) -> bytes:
    return f"event: {ev.name}\ndata: {json.dumps(ev.data, separators=(',', ':'))}\n\n".encode()


async def _body(request: Request) -> dict[str, Any]:
    raw = b""
    async for chunk in request.stream():
        raw += chunk
        if len(raw) > MAX_BODY:
            raise UiError("request body too large")
    if not raw:
        return {}
    try:
        data = json.loads(raw)
    except ValueError:
        raise UiError("request body is not JSON") from None
    if not isinstance(data, dict):
        raise UiError("request body must be a JSON object")
    return data


class _Handlers:
    def __init__(self, screen: BayScreen, tokens: Tokens, clear_codes: ClearCodes | None) -> None:
        self.screen, self.tokens, self.clear_codes = screen, tokens, clear_codes
        self.index = (resources.files("agent.ui") / "static" / "index.html").read_bytes()

    def guarded(
        self, need: Permission, fn: Callable[[Request], Awaitable[Response]]
    ) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            perm = _permission(request, self.tokens)
            if perm is None or (need == "act" and perm != "act"):
                return _deny(need)
            try:
                response = await fn(request)
            except NotFoundError as exc:
                return JSONResponse({"error": str(exc)}, status_code=404)
            except VisitStateError as exc:
                return JSONResponse({"error": str(exc)}, status_code=409)
            except UiError as exc:
                return JSONResponse({"error": str(exc)}, status_code=400)
            token = request.query_params.get("token")
            if token and self.tokens.permission(token):
                response.set_cookie(COOKIE, token, httponly=True, samesite="strict", max_age=30 * 86400)
            return response

        return endpoint

    async def page(self, request: Request) -> Response:
        if request.query_params.get("token"):
            # Drop the token from the address bar (and from history) once it is a cookie.
            resp: Response = RedirectResponse(request.url.remove_query_params("token"), status_code=303)
            return resp
        return HTMLResponse(self.index, headers={"Cache-Control": "no-cache"})

    async def whoami(self, request: Request) -> Response:
        perm = _permission(request, self.tokens)
        shop, bays, can_clear = self.screen.shop, sorted(self.screen.live), self.clear_codes is not None
        return JSONResponse({"permission": perm, "bays": bays, "shop": shop, "clear_codes": can_clear})

    async def overview(self, request: Request) -> Response:
        return JSONResponse(await self.screen.overview())

    async def bay(self, request: Request) -> Response:
        return JSONResponse(await self.screen.snapshot(request.path_params["bay"]))

    async def visit(self, request: Request) -> Response:
        v = await self.screen.store.visit(request.path_params["visit"])
        vehicle = await self.screen.store.vehicle(v.vin) if v.vin else None
        history, change = await self.screen.book.history(v.vin, exclude=v.visit) if v.vin else ([], {})
        return JSONResponse({
            "visit": visit_json(v) | {"change": change}, "shop": self.screen.shop,
            "vehicle": None if vehicle is None else vehicle.model_dump(mode="json"),
            "history": [visit_json(h) for h in history if h.started_at < v.started_at],
        })  # fmt: skip

    async def finish(self, request: Request) -> Response:
        body = await _body(request)
        tech = body.get("technician")
        v = await self.screen.finish(request.path_params["visit"], str(tech)[:64] if tech else None)
        return JSONResponse(visit_json(v))

    async def task_done(self, request: Request) -> Response:
        body = await _body(request)
        by = body.get("by")
        t = await self.screen.task_done(request.path_params["task"], str(by)[:64] if by else None)
        return JSONResponse(t.model_dump(mode="json"))

    async def clear(self, request: Request) -> Response:
        bay_name = request.path_params["bay"]
        if bay_name not in self.screen.live:
            raise NotFoundError(f"no bay {bay_name}")
        if self.clear_codes is None:
            return JSONResponse(
                {"error": "clearing codes is not available on this agent yet"}, status_code=501
            )
        if (await _body(request)).get("confirm") is not True:
            raise UiError('clearing codes needs {"confirm": true}')
        try:
            rec = await self.clear_codes(bay_name)
        except RecordRefusedError as exc:  # disk full: Mode 04 went out, its record did not
            return JSONResponse({"error": f"the clear ran but was not recorded: {exc}"}, status_code=503)
        if rec is None:
            return JSONResponse({"error": f"no dongle serves bay {bay_name}"}, status_code=409)
        # Refused and failed are answers too (recorded, shown): the page tells them apart.
        return JSONResponse(clear_json(rec))

    async def events(self, request: Request) -> Response:
        which = request.query_params.get("bay", ALL_BAYS)
        if which != ALL_BAYS and which not in self.screen.live:
            raise NotFoundError(f"no bay {which}")
        sub = self.screen.hub.subscribe(which)

        async def stream() -> AsyncIterator[bytes]:
            try:
                yield b"retry: 1000\n\n"
                if which == ALL_BAYS:
                    for summary in await self.screen.overview():
                        yield _sse(Event("overview", summary["bay"], summary))
                else:
                    yield _sse(Event("snapshot", which, await self.screen.snapshot(which) | {"record": None}))
                while True:
                    try:  # (a cancelled Queue.get loses nothing; a cancelled generator would end)
                        async with asyncio.timeout(HEARTBEAT_S):
                            ev = await sub.queue.get()
                    except TimeoutError:
                        yield b": keep-alive\n\n"
                        continue
                    if ev.name == "bye":
                        return
                    if which == ALL_BAYS and ev.name != "overview":
                        continue
                    if which != ALL_BAYS and ev.name == "overview":
                        continue
                    yield _sse(ev)
            finally:
                self.screen.hub.unsubscribe(sub)

        return StreamingResponse(
            stream(), media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )  # fmt: skip


def ui_routes(screen: BayScreen, tokens: Tokens, *, clear_codes: ClearCodes | None = None) -> list[BaseRoute]:
    h = _Handlers(screen, tokens, clear_codes)
    return [
        Route("/", h.guarded("view", h.page)),
        Route("/bay/{bay}", h.guarded("view", h.page)),
        Route("/report/{visit}", h.guarded("view", h.page)),
        Route("/api/whoami", h.guarded("view", h.whoami)),
        Route("/api/bays", h.guarded("view", h.overview)),
        Route("/api/bays/{bay}", h.guarded("view", h.bay)),
        Route("/api/bays/{bay}/clear-codes", h.guarded("act", h.clear), methods=["POST"]),
        Route("/api/visits/{visit}", h.guarded("view", h.visit)),
        Route("/api/visits/{visit}/finish", h.guarded("act", h.finish), methods=["POST"]),
        Route("/api/tasks/{task}/done", h.guarded("act", h.task_done), methods=["POST"]),
        Route("/api/events", h.guarded("view", h.events)),
        # Assets carry no data: no token, so the browser may cache them.
        Mount("/static", StaticFiles(directory=_static_dir()), name="static"),
    ]
