"""Health checks aggregated as `application/health+json` (pass / warn / fail).

Components register a check: a function returning (status, detail). The aggregate is
the worst status; "warn" (an optional device absent, a breaker open) still answers 200,
"fail" answers 503 so a load balancer, the upgrade script or a fleet monitor can act.
A check registered with `restart_helps=False` (a full disk) may fail without the
watchdog withholding its ping: restarting would not fix it and would drop the link.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = ["HealthRegistry", "Status"]

Status = Literal["pass", "warn", "fail"]
_RANK: dict[Status, int] = {"pass": 0, "warn": 1, "fail": 2}

Check = Callable[[], tuple[Status, str]]


@dataclass
class HealthRegistry:
    version: str
    checks: dict[str, Check] = field(default_factory=dict)
    no_restart: set[str] = field(default_factory=set)

    def register(self, name: str, check: Check, *, restart_helps: bool = True) -> None:
        self.checks[name] = check
        if restart_helps:
            self.no_restart.discard(name)
        else:
            self.no_restart.add(name)

    def evaluate(self) -> dict[str, Any]:
        """The health document. A check that raises counts as "fail", never crashes."""
        worst: Status = "pass"
        results: dict[str, list[dict[str, str]]] = {}
        for name, check in self.checks.items():
            try:
                status, detail = check()
            except Exception as exc:
                status, detail = "fail", f"check raised {exc!r}"
            results[name] = [{"status": status, "output": detail}]
            if _RANK[status] > _RANK[worst]:
                worst = status
        return {"status": worst, "version": self.version, "checks": results}

    def http_status(self, doc: dict[str, Any]) -> int:
        return 503 if doc["status"] == "fail" else 200
