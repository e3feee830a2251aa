"""Shared frame for subcommands whose capability has not landed yet."""

from __future__ import annotations

from agent.errors import NotLandedError

__all__ = ["not_landed"]


def not_landed(what: str, issue: int) -> NotLandedError:
    return NotLandedError(f"{what} has not been built yet (tracked in issue {issue}); nothing was done")
