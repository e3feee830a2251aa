"""The layering rule of docs/design.md, enforced by reading every module's imports.

drivers/* import nothing of ours but their own package (and obd2/camera not each
other) and the leaf packages; sync imports nothing of ours but the leaf packages;
simulators import nothing of ours at all; leaf packages (shared policies such as the
one backoff) import nothing of ours; only agent wires them together.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# Leaf packages: one concept each that several packages need (docs/design.md "one concept,
# one place"). They import nothing of ours, so anyone but a simulator may import them.
LEAVES = ("resilience", "untrusted")
OURS = ("agent", "drivers", "sync", "simulators", "tests", "bench", "scripts", *LEAVES)


def allowed_prefixes(module_path: Path, root: Path) -> tuple[str, ...] | None:
    """Which of our packages a module may import; None = unrestricted (agent)."""
    parts = module_path.relative_to(root).parts
    top = parts[0]
    if top == "drivers":
        return ((f"drivers.{parts[1]}",) if len(parts) > 2 else ("drivers",)) + LEAVES
    if top == "sync":
        return ("sync", *LEAVES)
    if top == "simulators":
        return ("simulators",)
    if top in LEAVES:
        return (top,)
    return None


def imported_modules(source: str, module: str) -> list[tuple[int, str]]:
    """(line, absolute module name) for every import, resolving relative ones."""
    out: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            out.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".")[: -node.level]
                name = ".".join([*base, node.module] if node.module else base)
            else:
                name = node.module or ""
            out.append((node.lineno, name))
    return out


def violations(path: Path, root: Path = ROOT) -> list[str]:
    allowed = allowed_prefixes(path, root)
    if allowed is None:
        return []
    rel = path.relative_to(root)
    module = ".".join(rel.with_suffix("").parts)
    if rel.name == "__init__.py":
        module = ".".join(rel.parent.parts) + ".__init__"
    bad = []
    for line, name in imported_modules(path.read_text(), module):
        top = name.split(".")[0]
        if top not in OURS:
            continue
        if not any(name == a or name.startswith(a + ".") for a in allowed):
            bad.append(f"{rel}:{line} imports {name}")
    return bad


def agent_violations(path: Path, root: Path = ROOT) -> list[str]:
    """Inside agent/: the CLI and the demo are leaves of the application. Nothing
    imports agent.cli (but the `python -m agent` entry point); nothing but the CLI
    imports agent.demo; the demo imports no CLI module."""
    rel = path.relative_to(root)
    room = rel.parts[1] if len(rel.parts) > 2 else rel.stem
    module = ".".join(rel.with_suffix("").parts)
    bad = []
    for line, name in imported_modules(path.read_text(), module):
        entry = rel.name == "__main__.py"
        if (name == "agent.cli" or name.startswith("agent.cli.")) and room != "cli" and not entry:
            bad.append(f"{rel}:{line} imports {name} (nothing imports the CLI)")
        if (name == "agent.demo" or name.startswith("agent.demo.")) and room not in ("cli", "demo"):
            bad.append(f"{rel}:{line} imports {name} (only the CLI imports the demo)")
    return bad


def package_modules() -> list[Path]:
    return sorted(p for pkg in ("drivers", "sync", "simulators", *LEAVES) for p in (ROOT / pkg).rglob("*.py"))


def test_every_restricted_module_respects_the_import_rule() -> None:
    found = [v for p in package_modules() for v in violations(p)]
    assert found == [], "layering rule broken:\n" + "\n".join(found)


def test_the_cli_and_the_demo_are_leaves_of_the_application() -> None:
    found = [v for p in sorted((ROOT / "agent").rglob("*.py")) for v in agent_violations(p)]
    assert found == [], "agent room rule broken:\n" + "\n".join(found)


@pytest.mark.parametrize(
    ("where", "source", "expected_bad"),
    [
        ("agent/demo/runner.py", "from agent.cli.schema import render_schemas", True),
        ("agent/service/runtime.py", "from agent.cli import main", True),
        ("agent/service/runtime.py", "from agent.demo.broker import LocalBroker", True),
        ("agent/pipelines/wiring.py", "import agent.demo", True),
        ("agent/cli/demo.py", "from agent.demo.runner import run_demo", False),
        ("agent/demo/delivery.py", "from agent.service.runtime import Runtime", False),
        ("agent/__main__.py", "from agent.cli import main", False),
    ],
)
def test_the_room_checker_catches_violations(
    tmp_path: Path, where: str, source: str, expected_bad: bool
) -> None:
    target = tmp_path / where
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(source + "\n")
    assert bool(agent_violations(target, root=tmp_path)) is expected_bad


@pytest.mark.parametrize(
    ("where", "source", "expected_bad"),
    [
        ("drivers/obd2/x.py", "from agent.records import ScanRecord", True),
        ("drivers/obd2/x.py", "import sync.outbox", True),
        ("drivers/obd2/x.py", "from drivers.camera import frames", True),
        ("drivers/obd2/x.py", "from ..camera import frames", True),
        ("drivers/obd2/x.py", "from .elm327 import parse", False),
        ("drivers/obd2/x.py", "from drivers.obd2.errors import OBDError", False),
        ("sync/x.py", "from agent import config", True),
        ("sync/x.py", "from sync.errors import SyncError", False),
        ("simulators/elm327/x.py", "from drivers.obd2 import pids", True),
        ("simulators/elm327/x.py", "import paho.mqtt.client", False),
        ("agent/x.py", "from drivers.obd2 import pids", False),
        ("drivers/obd2/x.py", "from resilience import Backoff", False),
        ("sync/x.py", "from resilience.backoff import BackoffPolicy", False),
        ("simulators/elm327/x.py", "from resilience import Backoff", True),
        ("resilience/x.py", "from sync.errors import SyncError", True),
        ("resilience/x.py", "from agent import config", True),
        ("sync/x.py", "from untrusted import parse_object", False),
        ("agent/x.py", "from untrusted.bounded_json import parse_json", False),
        ("drivers/camera/x.py", "from untrusted import parse_json", False),
        ("simulators/services/x.py", "from untrusted import parse_json", True),
        ("untrusted/x.py", "from sync.errors import BadMessageError", True),
        ("untrusted/x.py", "from resilience import Backoff", True),
        ("untrusted/x.py", "from untrusted.errors import TooDeepError", False),
    ],
)
def test_the_checker_itself_catches_violations(
    tmp_path: Path, where: str, source: str, expected_bad: bool
) -> None:
    # Run the checker on a synthetic tree so a broken checker cannot pass silently.
    target = tmp_path / where
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(source + "\n")
    assert bool(violations(target, root=tmp_path)) is expected_bad
