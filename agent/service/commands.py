"""Remote command handlers the agent registers on sync's command channel.

Allow-list: ping, status, replay, and config when the runtime supports remote
configuration. Arguments are pydantic models (extra keys refused).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from pydantic import Field

from agent import __version__
from agent.errors import ConfigError
from agent.service.reconfigure import Reconfigurer
from agent.service.remote_config import MAX_REMOTE_TOML, Answer, parse_remote
from sync.commands import CommandArgs, CommandChannel
from sync.errors import CommandError
from sync.link import Link

__all__ = ["ConfigArgs", "NoArgs", "ReplayArgs", "register_commands"]


class NoArgs(CommandArgs):
    pass


class ReplayArgs(CommandArgs):
    epoch: str = Field(min_length=1, max_length=64)
    from_seq: int = Field(ge=1)


class ConfigArgs(CommandArgs):
    version: str = Field(min_length=1, max_length=64)
    toml: str = Field(max_length=MAX_REMOTE_TOML)


def register_commands(
    channel: CommandChannel,
    link: Link,
    reconfigurer: Reconfigurer | None = None,
    *,
    authenticated: bool = False,
) -> None:
    """`authenticated`: the link verifies every command's MAC (mqtt.auth_key is set).
    Remote configuration is obeyed only then: without a key any broker client could
    reconfigure the agent."""
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

    if reconfigurer is not None:
        channel.register("config", ConfigArgs, config)
    channel.register("ping", NoArgs, ping)
    channel.register("status", NoArgs, status)
    channel.register("replay", ReplayArgs, replay)
