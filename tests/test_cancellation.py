"""No `asyncio.wait_for` in product code.

On Python 3.11 (Raspberry Pi OS bookworm's Python), `wait_for` can swallow the
cancellation of the task that awaits it when the cancel arrives as its timeout
fires (CPython gh-86296, fixed by the 3.12 rewrite on top of `asyncio.timeout`). A
loop of `with suppress(TimeoutError): await wait_for(...)` then never ends: `baygate
run` ignored SIGTERM for good, its event loop idle with the bay screen's intake loop
and the link's sender "cancelling" forever (found by dumping the tasks of a stuck
agent). `async with asyncio.timeout(...)` counts cancellations (`uncancel`) and
re-raises an outside cancel; use it instead.
"""

from __future__ import annotations

import ast
import asyncio
import contextlib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PRODUCT = ("agent", "drivers", "sync", "simulators", "resilience", "untrusted")


def wait_for_calls(source: str) -> list[int]:
    lines = []
    for node in ast.walk(ast.parse(source)):
        func = node.func if isinstance(node, ast.Call) else None
        is_wait_for = isinstance(func, ast.Attribute) and func.attr == "wait_for"
        if is_wait_for and isinstance(func.value, ast.Name) and func.value.id == "asyncio":  # type: ignore[union-attr]
            lines.append(node.lineno)
    return lines


def test_product_code_never_calls_asyncio_wait_for() -> None:
    found = [
        f"{p.relative_to(ROOT)}:{line}"
        for pkg in PRODUCT
        for p in sorted((ROOT / pkg).rglob("*.py"))
        for line in wait_for_calls(p.read_text())
    ]
    why = "use `async with asyncio.timeout(...)` (see this module's docstring):\n"
    assert found == [], why + "\n".join(found)


def test_the_checker_finds_a_call() -> None:
    assert wait_for_calls("import asyncio\nasync def f(e):\n    await asyncio.wait_for(e.wait(), 1)\n") == [3]
    assert wait_for_calls("async def f(c):\n    await c.wait_for(1)\n") == []  # other APIs' wait_for


@pytest.mark.anyio
async def test_the_timeout_loop_ends_when_cancelled_at_its_deadline() -> None:
    # The pattern the product uses, cancelled exactly as its timeout fires, many times:
    # the loop must end every time (with wait_for on 3.11 some runs never would).
    async def loop(event: asyncio.Event) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(0.001):
                    await event.wait()

    for _ in range(200):
        task = asyncio.create_task(loop(asyncio.Event()))
        await asyncio.sleep(0.001)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            async with asyncio.timeout(5):
                await task
        assert task.cancelled()
