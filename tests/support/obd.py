"""Helpers for driver tests against the ELM327 simulator (tests may import simulators)."""

from __future__ import annotations

from resilience import BackoffPolicy
from simulators.elm327 import Timing, list_profiles

# The simulator's defaults model real adapters (ATZ 1 s, protocol search 200 ms per
# protocol, ISO 9141 init 2.6 s). Tests keep the behaviour but not the waiting.
FAST = Timing(rtt_ms=0.0, ecu_ms=0.0, frame_ms=0.0, reset_ms=5.0, search_ms=2.0, bus_init_ms=20.0)
# Reconnect backoff without the waiting (the policy's shape is tested on a fake clock).
QUICK_BACKOFF = BackoffPolicy(first_s=0.01, cap_s=0.02, jitter=0.0)
PROFILES = tuple(list_profiles())
SIX = ["RPM", "SPEED", "COOLANT_TEMP", "ENGINE_LOAD", "THROTTLE_POS", "MAF"]
