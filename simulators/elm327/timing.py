"""The timing model: how long a real link + adapter + ECU take, as delays before bytes.

The engine never sleeps: it attaches a delay to every chunk it emits and the transport
waits that long with an injected sleep function, so tests run on a fake clock.
Defaults are zero link/ECU time (fast tests) with the adapter's own fixed costs.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ST_DEFAULT", "ST_UNIT_S", "Chunk", "Reply", "Timing"]

# ATST counts in 4 ms units; the power-on default 0x32 is ~200 ms (ELM327 datasheet).
ST_UNIT_S = 0.004
ST_DEFAULT = 0x32


@dataclass(frozen=True)
class Timing:
    """All delays in milliseconds.

    rtt_ms: link round trip (BLE ~30 ms, Wi-Fi ~5-10 ms, USB ~1 ms), paid once per command.
    ecu_ms: from request on the bus to the first ECU reply (typical ECUs: 10-50 ms).
    frame_ms: gap between further frames / ECU replies on the bus (ISO-TP STmin ~1 ms).
    reset_ms: ATZ (a real ELM327 takes about a second); ATWS takes a quarter of it.
    search_ms: per protocol SP0 tries before the car's (CAN 11/500 is tried 6th).
    bus_init_ms: ISO 9141-2 / KWP 5-baud slow init on the first request (~2.6 s on cars).
    fast_init_ms: KWP2000 fast init (25 ms wake-up pattern + StartCommunication, ~350 ms).
    iso_gap_ms: ISO 9141-2 P2 gap before each further message (25-50 ms; 10.4 kbaud is slow).
    st_scale: scales the adapter's ATST wait (4 ms units, 200 ms by default); tests that
        make hundreds of requests without the count digit set it below 1.
    """

    rtt_ms: float = 0.0
    ecu_ms: float = 0.0
    frame_ms: float = 1.0
    reset_ms: float = 1000.0
    search_ms: float = 200.0
    bus_init_ms: float = 2600.0
    fast_init_ms: float = 350.0
    iso_gap_ms: float = 25.0
    st_scale: float = 1.0


@dataclass(frozen=True)
class Chunk:
    """Bytes to deliver after waiting `delay_s` (relative to the previous chunk)."""

    delay_s: float
    data: bytes


@dataclass(frozen=True)
class Reply:
    """The adapter's whole answer to one command line."""

    command: str
    chunks: tuple[Chunk, ...]
    obd: bool = False
    error: bool = False

    @property
    def data(self) -> bytes:
        return b"".join(c.data for c in self.chunks)

    @property
    def duration_s(self) -> float:
        return sum(c.delay_s for c in self.chunks)
