"""Scheduled connector health checks: NHTSA vPIC, NHTSA recalls and each manufacturer API.

Every `every_s` (300 s: one request per service per 5 minutes is nothing against vPIC's
1,000-2,000 transactions a minute) each service gets one cheap GET of its own:
- vPIC: `DecodeWMI/1FT?format=json` (a real query, a few hundred bytes back);
- recalls: `recalls/campaignNumber?campaignNumber=12V176000` (one campaign);
- a manufacturer API: its base URL, unauthenticated.
A service is up when it answers with a status under 500 in `timeout_s`: a 401/403/404
from an API we did not authenticate to, or a 429, is a live service. 5xx, a timeout, a
refused or reset connection is down.

Probes bypass the breaker and the limiter on purpose: they observe the service, they
must not open a breaker or spend the budget of real calls. Results feed `/health`
(`service:NAME`, warn while down: enrichment waits in its durable queue, the agent is
fine; agent.pipelines.wiring registers it), the metrics (`baygate_service_up`,
`baygate_service_probe_duration_seconds`) and, on each change, an alert record
(`service_down` / `service_up`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

import httpx

from agent.config import EnrichSection
from agent.enrich.connectors.spec import ApiMethod, Connector

__all__ = ["ProbeResult", "Probes", "probe_targets"]

log = logging.getLogger("baygate.enrich.probes")

OnChange = Callable[[str, "ProbeResult"], Awaitable[None]]


@dataclass(frozen=True)
class ProbeResult:
    up: bool
    detail: str  # "HTTP 200", "timeout after 5.0 s", "ConnectError: ..."
    duration_s: float


def probe_targets(section: EnrichSection, connectors: Mapping[str, Connector]) -> dict[str, str]:
    """service name -> the URL probed (names are bounded by the config: metric labels)."""
    n = section.nhtsa
    targets = {
        "nhtsa.vpic": f"{n.vpic_url}DecodeWMI/1FT?format=json",
        "nhtsa.recalls": f"{n.recalls_url}recalls/campaignNumber?campaignNumber=12V176000",
    }
    for cid, conn in sorted(connectors.items()):
        api = next((m for m in conn.methods if isinstance(m, ApiMethod)), None)
        if api is not None:
            targets[f"manufacturer.{cid}"] = section.manufacturer_base_url or api.base_url
    return targets


class Probes:
    def __init__(
        self,
        targets: Mapping[str, str],
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        every_s: float = 300.0,
        timeout_s: float = 5.0,
        on_change: OnChange | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.targets = dict(targets)
        self.every_s = every_s
        self.timeout_s = timeout_s
        self.on_change = on_change
        self.results: dict[str, ProbeResult] = {}
        self._transport = transport
        self._sleep = sleep
        self._clock = clock

    async def probe_once(self) -> dict[str, ProbeResult]:
        """Probe every target concurrently; call `on_change` for each that changed
        (the first result of a service counts as a change only when it is down)."""
        async with httpx.AsyncClient(transport=self._transport, timeout=self.timeout_s) as client:
            names = list(self.targets)
            got = await asyncio.gather(*(self._probe(client, self.targets[n]) for n in names))
        for name, res in zip(names, got, strict=True):
            before = self.results.get(name)
            self.results[name] = res
            changed = before.up != res.up if before is not None else not res.up
            if changed:
                log.warning("%s is %s: %s", name, "up again" if res.up else "down", res.detail)
                if self.on_change is not None:
                    await self.on_change(name, res)
        return dict(self.results)

    async def _probe(self, client: httpx.AsyncClient, url: str) -> ProbeResult:
        start = self._clock()
        try:
            resp = await client.get(url)
        except httpx.TimeoutException:
            return ProbeResult(False, f"timeout after {self.timeout_s} s", self._clock() - start)
        except httpx.HTTPError as exc:
            return ProbeResult(False, f"{type(exc).__name__}: {exc}"[:200], self._clock() - start)
        return ProbeResult(resp.status_code < 500, f"HTTP {resp.status_code}", self._clock() - start)

    async def run(self) -> None:
        """Probe now and every `every_s` until cancelled."""
        while True:
            await self.probe_once()
            await self._sleep(self.every_s)
