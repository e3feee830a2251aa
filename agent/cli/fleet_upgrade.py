"""`baygate fleet upgrade`: roll a release out in waves, canary first, stop at the first
failure.

Per wave: the signed `upgrade` command to every agent of the wave (each answers
`accepted` with an id at once, or `current`, `busy`, `rejected`); then `upgrade-status`
every `poll_s` until each accepted agent reports the result carrying that id:

- `ok` and the agent answering with the new version: upgraded;
- `rolled_back` (the release failed its health gate and the previous one runs again),
  `failed` (the release script stopped, e.g. a tampered wheel) or `refused` (the agent
  would not stage it: sha256, size, a bad tarball): the wave stops;
- no answer while the agent restarts is normal; no result within `timeout_s` of the
  order is a failure.

The next wave starts only when the whole wave is upgraded. Agents of later waves are
never sent anything once a wave fails. Sans-IO but for `send`, `clock` and `sleep`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sync.commands import Reply
from sync.requester import Target

__all__ = ["Outcome", "Send", "judge_order", "judge_status", "plan_waves", "roll_out"]

# (targets, command name, arguments, seconds to wait) -> each target's reply or None
Send = Callable[[Sequence[Target], str, Mapping[str, Any], float], Mapping[Target, Reply | None]]
STATUS_WAIT_S = 5.0  # one upgrade-status round: an online agent answers in milliseconds


@dataclass(frozen=True)
class Outcome:
    target: Target
    ok: bool
    text: str  # what the line after "SHOP/AGENT: " says


def plan_waves(targets: Sequence[Target], canaries: Sequence[Target], wave_size: int) -> list[list[Target]]:
    """Canaries alone first, then the others `wave_size` at a time, in the given order."""
    canary = list(dict.fromkeys(canaries))
    rest = [t for t in dict.fromkeys(targets) if t not in canary]
    waves = [canary] if canary else []
    return waves + [rest[i : i + wave_size] for i in range(0, len(rest), wave_size)]


def _last_line(text: object) -> str:
    lines = [ln.strip() for ln in str(text or "").splitlines() if ln.strip()]
    return (lines[-1] if lines else "no detail")[:300]


def judge_order(target: Target, reply: Reply | None) -> str | Outcome:
    """The id to wait for, or the final outcome."""
    if reply is None:
        return Outcome(target, False, "no answer")
    if not reply.ok:
        return Outcome(target, False, f"refused: {reply.error}")
    r = dict(reply.result or {})
    if r.get("status") == "accepted" and isinstance(r.get("id"), str):
        return str(r["id"])
    if r.get("status") == "current":
        return Outcome(target, True, f"already at {r.get('version')}")
    return Outcome(target, False, f"{r.get('status', 'refused')}: {r.get('error') or 'no reason given'}")


def judge_status(target: Target, reply: Reply | None, order_id: str, version: str) -> Outcome | None:
    """The outcome once the agent reports the result of `order_id`; None: not yet."""
    if reply is None:
        return None  # restarting, or the Wi-Fi: ask again
    if not reply.ok:
        return Outcome(target, False, f"upgrade-status refused: {reply.error}")
    r = dict(reply.result or {})
    res = r.get("result")
    if not isinstance(res, dict) or res.get("id") != order_id:
        return None  # still staging, or staged and waiting for the upgrade unit
    status = res.get("status")
    if status == "ok":
        if r.get("version") != version:
            return None  # the result is written just before the agent's restart completes
        return Outcome(target, True, f"upgraded {res.get('from')} -> {version}")
    if status == "rolled_back":
        return Outcome(target, False, f"rolled back to {res.get('running')}: {_last_line(res.get('detail'))}")
    return Outcome(target, False, f"{status}: {_last_line(res.get('detail'))}")


def roll_out(
    send: Send,
    waves: Sequence[Sequence[Target]],
    order: Mapping[str, Any],
    *,
    timeout_s: float,
    poll_s: float,
    report: Callable[[Outcome], None],
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> Outcome | None:
    """Run the waves; the first failure (after which nothing more is sent), or None."""
    version = str(order["version"])
    for wave in waves:
        answers = send(wave, "upgrade", order, STATUS_WAIT_S * 2)
        waiting: dict[Target, str] = {}
        failure: Outcome | None = None
        for t in wave:
            judged = judge_order(t, answers.get(t))
            if isinstance(judged, str):
                waiting[t] = judged
            else:
                report(judged)
                failure = failure or (None if judged.ok else judged)
        deadline = clock() + timeout_s
        while waiting:
            left = deadline - clock()
            if left <= 0:
                for t in waiting:
                    out = Outcome(t, False, f"no result within {timeout_s:g}s")
                    report(out)
                    failure = failure or out
                break
            replies = send(list(waiting), "upgrade-status", {}, min(STATUS_WAIT_S, left))
            for t, order_id in list(waiting.items()):
                status = judge_status(t, replies.get(t), order_id, version)
                if status is not None:
                    del waiting[t]
                    report(status)
                    failure = failure or (None if status.ok else status)
            if waiting:
                sleep(min(poll_s, max(0.0, deadline - clock())))
        if failure is not None:
            return failure
    return None
