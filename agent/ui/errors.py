"""The bay screen's errors. Everything the UI raises derives from UiError."""

from __future__ import annotations

from agent.errors import AgentError

__all__ = ["NotFoundError", "PermissionDeniedError", "UiError", "VisitStateError"]


class UiError(AgentError):
    """Root of the bay screen's errors."""


class NotFoundError(UiError):
    """No such bay, visit or task."""


class VisitStateError(UiError):
    """The action does not fit the visit's state (finishing a visit already ended)."""


class PermissionDeniedError(UiError):
    """The token does not carry the permission the action needs."""
