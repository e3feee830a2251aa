"""Errors raised by the agent application layer."""

__all__ = ["AgentError", "ConfigError", "UpgradeError"]


class AgentError(Exception):
    """Root of every error the agent raises."""


class ConfigError(AgentError):
    """The configuration is invalid. `path` names the offending key (dotted); `source`
    the environment variable that set it, when one did (the file is then not at fault)."""

    def __init__(self, path: str, message: str, source: str = "") -> None:
        where = f"{source} ({path})" if source else path
        super().__init__(f"{where}: {message}" if where else message)
        self.path = path
        self.message = message
        self.source = source


class UpgradeError(AgentError):
    """An upgrade order is refused: what is wrong with its version, download or wheelhouse."""
