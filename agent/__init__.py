"""Baygate agent: the application that wires drivers, enrichment and sync together."""

__all__ = ["__version__"]

__version__ = "0.1.0"
