"""`baygate run`: run the agent (dongles, cameras, enrichment, sync) until stopped."""

from __future__ import annotations

import argparse
import logging

from agent.cli import simulated_ble
from agent.config import Config
from agent.state_dir import ensure_state_dir

__all__ = ["HELP", "NEEDS_CONFIG", "add_arguments", "run"]

HELP = "run the agent (dongles, cameras, enrichment, sync) until stopped"
NEEDS_CONFIG = True

log = logging.getLogger("baygate.run")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    # Everything else comes from the config file; this is for trying the agent without a radio.
    simulated_ble.add_option(parser)


def run(args: argparse.Namespace, config: Config | None) -> int:
    from agent import __version__
    from agent.service.health import HealthRegistry
    from agent.service.metrics import AgentMetrics
    from agent.service.runtime import Runtime, pipelines_from_config, run_until_signalled

    assert config is not None
    ensure_state_dir(config)  # a state dir that cannot be made is a config error (exit 2)
    # What run goes on without is said once at start (doctor warns about the same).
    if "mqtt" not in config.model_fields_set:
        log.warning("no [mqtt] section in the config: sending to the default broker %s", config.mqtt.url)
    if config.enrich.enabled and not config.enrich.manufacturers_dir.is_dir():
        log.warning(
            "enrich.manufacturers_dir %s does not exist: no serial is attributed or registered",
            config.enrich.manufacturers_dir,
        )
    health = HealthRegistry(version=__version__)
    metrics = AgentMetrics(version=__version__)  # the pipelines put their parts in it
    vehicles: dict[str, object] = {}  # filled by the pipelines; the bay screen asks them for post-scans
    # One fake radio for the whole run: a remote reconfiguration finds the same cars.
    radio = simulated_ble.backends(args)
    if radio:
        log.warning("--simulated-ble: ble:// dongles are the ELM327 simulator's, not a radio's")
    runtime = Runtime(
        config,
        pipelines_for=lambda c: pipelines_from_config(c, health, vehicles, metrics=metrics, **radio),
        health=health,
        api=True,
        vehicles=vehicles,
        metrics=metrics,
    )
    run_until_signalled(runtime)
    return 0
