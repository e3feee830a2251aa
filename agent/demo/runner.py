"""The demo: the agent on simulators, end to end, narrating each step.

Each capability adds a step here as it lands; every step prints what it did and the
demo exits non-zero if any step fails, so `make demo` doubles as a smoke test.
"""

from __future__ import annotations

import asyncio
import importlib
import shutil
import sys
import tempfile
import tomllib
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from pathlib import Path

from agent.config import EXAMPLE_CONFIG, SHIPPED_MANUFACTURERS, Config, parse_config
from agent.demo import camera as demo_camera
from agent.demo import delivery as demo_sync
from agent.demo import enrich as demo_enrich
from agent.pipelines.sink import MemorySink, RecordSink
from agent.records import KINDS, render_schemas
from agent.service.doctor import run_checks

__all__ = ["DemoContext", "run_demo"]

EXAMPLE = EXAMPLE_CONFIG


@dataclass
class DemoContext:
    workdir: Path
    config: Config
    # Where pipelines emit records. A MemorySink until the sync step swaps in the
    # durable outbox (whose records then flow over MQTT to the reference backend).
    sink: RecordSink = field(default_factory=MemorySink)
    # Things later steps need from earlier ones (simulator URLs, ports, ...).
    services: dict[str, str] = field(default_factory=dict)
    # Simulators, brokers and servers a step starts stay up for later steps: enter them
    # here (`await ctx.stack.enter_async_context(...)`); the demo closes them at the end.
    stack: AsyncExitStack = field(default_factory=AsyncExitStack)

    def say(self, line: str) -> None:
        print(f"  {line}", flush=True)


async def _step_config(ctx: DemoContext) -> None:
    a = ctx.config.agent
    ctx.say(f"config: {EXAMPLE.name} validated (shop={a.shop_id}, agent={a.agent_id})")
    ctx.say(f"state dir: {ctx.config.agent.state_dir}")


async def _step_doctor(ctx: DemoContext) -> None:
    # Check the broker the sync step started, not the example config's 127.0.0.1:1883.
    # The demo reads the shipped manufacturer definitions (a Pi has them in /etc/baygate).
    cfg = ctx.config.model_copy(
        update={"enrich": ctx.config.enrich.model_copy(update={"manufacturers_dir": SHIPPED_MANUFACTURERS})}
    )
    if "mqtt" in ctx.services:
        cfg = cfg.model_copy(update={"mqtt": cfg.mqtt.model_copy(update={"url": ctx.services["mqtt"]})})
    for c in run_checks(cfg):
        ctx.say(f"doctor {c.status:4} {c.name}: {c.detail}")


async def _step_schemas(ctx: DemoContext) -> None:
    out = ctx.workdir / "schema"
    out.mkdir()
    for kind, text in render_schemas().items():
        (out / f"{kind}.schema.json").write_text(text)
    ctx.say(f"records: {len(KINDS)} kinds ({', '.join(KINDS)}), JSON Schemas in {out}")


Step = Callable[[DemoContext], Awaitable[None]]

STEPS: list[tuple[str, Step]] = [
    ("configuration", _step_config),
    ("record schemas", _step_schemas),
    ("sync: outbox -> mosquitto -> backend", demo_sync.step),
    ("doctor", _step_doctor),
    ("OBD2 dongle (simulated BLE)", lambda ctx: importlib.import_module("agent.demo.obd").step(ctx)),
    ("camera scanning", demo_camera.step),
    ("enrichment: NHTSA + manufacturer connectors", demo_enrich.step),
    # Keep last: waits until the backend holds everything the steps above emitted.
    ("sync: what the backend received", demo_sync.report_step),
]


def demo_config(workdir: Path) -> Config:
    data = tomllib.loads(EXAMPLE.read_text())
    data["agent"]["state_dir"] = str(workdir / "state")
    data["obd"]["dongles"] = []
    data["cameras"] = []
    return parse_config(data, environ={})


async def _run_steps(ctx: DemoContext) -> int:
    failed = 0
    async with ctx.stack:
        for title, step in STEPS:
            print(f"== {title}", flush=True)
            try:
                await step(ctx)
            except Exception as exc:
                failed += 1
                print(f"  FAILED: {exc!r}", file=sys.stderr, flush=True)
    print(f"== demo finished: {len(STEPS) - failed}/{len(STEPS)} steps ok")
    return failed


def run_demo(keep: bool = False) -> int:
    workdir = Path(tempfile.mkdtemp(prefix="baygate-demo-"))
    ctx = DemoContext(workdir=workdir, config=demo_config(workdir))
    try:
        failed = asyncio.run(_run_steps(ctx))
    finally:
        if keep:
            print(f"demo files kept in {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    return 1 if failed else 0
