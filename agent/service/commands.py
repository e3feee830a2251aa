"""Remote command handlers the agent registers on sync's command channel.

Allow-list: ping, status, replay, config when the runtime supports remote
configuration, and upgrade / upgrade-status when it stages upgrades
(agent/service/upgrade.py). Arguments are pydantic models (extra keys refused).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from typing import Any

from pydantic import Field

from agent import __version__
from agent.errors import ConfigError
from agent.service.reconfigure import Reconfigurer
from agent.service.remote_config import MAX_REMOTE_TOML, Answer, parse_remote
from agent.service.upgrade import Upgrader
from agent.service.upgrade_stage import VERSION_PATTERN
from sync.commands import CommandArgs, CommandChannel
from sync.errors import CommandError
from sync.link import Link

__all__ = ["ConfigArgs", "NoArgs", "ReplayArgs", "UpgradeArgs", "register_commands"]


class NoArgs(CommandArgs):
    pass


class ReplayArgs(CommandArgs):
    epoch: str = Field(min_length=1, max_length=64)
    from_seq: int = Field(ge=1)


class ConfigArgs(CommandArgs):
    version: str = Field(min_length=1, max_length=64)
    toml: str = Field(max_length=MAX_REMOTE_TOML)


class UpgradeArgs(CommandArgs):
    version: str = Field(pattern=VERSION_PATTERN)
    url: str = Field(min_length=8, max_length=2048)  # http(s):// or file:// of a wheelhouse tarball
    sha256: str = Field(pattern=r"^[0-9a-fA-F]{64}$")


def register_commands(
    channel: CommandChannel,
    link: Link,
    reconfigurer: Reconfigurer | None = None,
    *,
    authenticated: bool = False,
    upgrader: Upgrader | None = None,
) -> None:
    """`authenticated`: the link verifies every command's MAC (mqtt.auth_key is set).
    Remote configuration and upgrades are obeyed only then: without a key any broker
    client could reconfigure the agent or have it install a release of its choosing."""
    started = time.monotonic()

    async def ping(_: NoArgs) -> Mapping[str, Any]:
        return {"pong": True, "version": __version__}

    async def status(_: NoArgs) -> Mapping[str, Any]:
        st = await link.outbox.stats()
        return {
            "version": __version__,
            "uptime_s": round(time.monotonic() - started, 1),
            "epoch": st.epoch,
            "last_seq": st.last_seq,
            "outbox_depth": st.depth,
            "pending": st.pending,
            "oldest_pending_s": st.oldest_pending_age_s,
            "dropped": st.dropped,
            "backend_hw": link.backend_hw,
        }

    async def replay(args: ReplayArgs) -> Mapping[str, Any]:
        if args.epoch != link.outbox.epoch:
            raise CommandError(f"epoch {args.epoch} is not this outbox's ({link.outbox.epoch})")
        n = await link.replay(args.from_seq)
        return {"requeued": n, "from_seq": args.from_seq}

    async def config(args: ConfigArgs) -> Mapping[str, Any]:
        assert reconfigurer is not None
        if not authenticated:
            why = "remote configuration needs mqtt.auth_key on the agent: commands cannot be authenticated"
            return Answer(args.version, "rejected", why).as_dict()
        try:
            layer = parse_remote(args.version, args.toml)
        except ConfigError as exc:
            return Answer(args.version, "rejected", str(exc)).as_dict()
        return (await reconfigurer.apply(layer)).as_dict()

    async def upgrade(args: UpgradeArgs) -> Mapping[str, Any]:
        assert upgrader is not None
        if not authenticated:
            why = "upgrades need mqtt.auth_key on the agent: commands cannot be authenticated"
            return {"status": "rejected", "version": args.version, "error": why}
        return upgrader.order(args.version, args.url, args.sha256)

    async def upgrade_status(_: NoArgs) -> Mapping[str, Any]:
        assert upgrader is not None
        return await asyncio.to_thread(upgrader.report)  # reads two small files

    if reconfigurer is not None:
        channel.register("config", ConfigArgs, config)
    if upgrader is not None:
        channel.register("upgrade", UpgradeArgs, upgrade)
        channel.register("upgrade-status", NoArgs, upgrade_status)
    channel.register("ping", NoArgs, ping)
    channel.register("status", NoArgs, status)
    channel.register("replay", ReplayArgs, replay)
