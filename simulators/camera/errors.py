"""Errors of the camera simulator."""

__all__ = ["SimulatorError"]


class SimulatorError(Exception):
    """Root of every error the camera simulator raises (bad scene spec, bad --out dir)."""
