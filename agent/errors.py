"""Errors raised by the agent application layer."""

__all__ = ["AgentError", "ConfigError"]


class AgentError(Exception):
    """Root of every error the agent raises."""


class ConfigError(AgentError):
    """The configuration is invalid. `path` names the offending key (dotted)."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}" if path else message)
        self.path = path
        self.message = message

