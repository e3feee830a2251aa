"""Policies every retry loop shares, whatever package it lives in.

A leaf package: it imports nothing of ours, so drivers, sync and agent may all use
it without breaking the import rule (docs/architecture.md).
"""

from resilience.backoff import Backoff, BackoffPolicy

__all__ = ["Backoff", "BackoffPolicy"]
