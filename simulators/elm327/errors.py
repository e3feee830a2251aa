"""The simulator's one exception root; profile and option mistakes surface as these."""

from __future__ import annotations

__all__ = [
    "ProfileError",
    "SimulatorError",
    "UnknownAdapterError",
    "UnknownFaultError",
    "UnknownProfileError",
]


class SimulatorError(Exception):
    """Root of every error the ELM327 simulator raises."""


class ProfileError(SimulatorError):
    """A vehicle profile file is malformed (bad PID, DTC, VIN check digit, ...)."""


class UnknownProfileError(SimulatorError):
    """No bundled profile has that name."""


class UnknownFaultError(SimulatorError):
    """A fault name that the simulator does not implement."""


class UnknownAdapterError(SimulatorError):
    """No adapter personality has that name."""
