"""Which chip answers, told from what it does, and which AT commands init may do without.

Every AT command init sends is classed here. Essential ones (a reset, `ATSP 0`, the
first `0100`) must work or connect fails naming the step. Optional ones are
optimisations or conveniences; cut-down clone firmware answers `?` (or garbage) to
some of them (FACTS: measured against an independent v1.5 emulator, `ATSP A6` -> `?`;
field clones also refuse `ATWS`, `ATAT1/2`, `ATCAF`, `ATST`, `ATH1`). A refusal falls
back to the next command in its chain, or to nothing, and the session remembers it
per dongle (store.py) so later connects go straight to what works.

Identification, from behaviour rather than the banner alone (clones print any banner):
- an STN chip (OBDLink) answers `STI` with `STN1110 ...`/`STN2120 ...`, while its `ATI`
  says `ELM327 v1.4b`;
- Elm Electronics released v1.0-v1.4b and v2.0-v2.3; "v1.5" never existed, so it is a
  clone, and so is any ELM327 that refuses a command its version documents;
- the rest is a genuine ELM327 v1.x or v2.x.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

__all__ = [
    "ESSENTIAL",
    "FALLBACK",
    "AdapterInfo",
    "Quirk",
    "accepted",
    "identify",
]


class Quirk(StrEnum):
    ECHO_STUCK = "echo_stuck"  # ATE0 answered OK but echo stays on
    NO_HEADERS = "no_headers"  # ATH1 not answered OK: parse headerless
    MISSING_PROMPT = "missing_prompt"  # reply not followed by '>' after errors
    NO_COUNT_DIGIT = "no_count_digit"  # '?' to `010C1`: ELM327 before v1.3 (datasheet)


# Optional command -> what to send instead when it is refused ("" = nothing).
FALLBACK: dict[str, str] = {
    "ATWS": "ATZ",  # warm start (~250 ms) refused: full reset (~1 s)
    "ATD": "ATWS",  # warm connect: set defaults without a reset
    "ATE0": "",  # echo stays on: replies are parsed with the echo stripped
    "ATL0": "",  # linefeeds stay on: CR LF is split like CR
    "ATS0": "",  # spaces stay on: frames are parsed with or without them
    "ATH1": "",  # headers off: parse headerless, count digit only for a lone ECU
    "ATAT1": "ATST19",  # no adaptive timing: a fixed 100 ms (19h x 4 ms) instead of 200
    "ATST19": "",  # no ATST either: the adapter's default 200 ms
    "ATSPA6": "ATSP0",  # no "auto, CAN 11/500 first": plain automatic search
    "ATDPN": "ATDP",  # the protocol by number, else by name
    "ATDP": "",  # neither: guess the protocol from the 0100 reply's frames
    "STI": "",  # not an STN chip
}
# What init cannot do without; a failure here fails connect with the step named.
ESSENTIAL: dict[str, str] = {
    "ATZ": "reset",
    "ATSP0": "protocol search",
    "0100": "reach the car",
}

GENUINE_ELM = frozenset(
    {"1.0", "1.0a", "1.1", "1.2", "1.2a", "1.3", "1.3a", "1.4", "1.4a", "1.4b", "2.0", "2.1", "2.2", "2.3"}
)
# The first ELM327 version that documents each optional command (datasheet history).
SINCE = {"ATWS": "1.0", "ATSPA6": "1.0", "ATST19": "1.0", "ATH1": "1.0", "ATAT1": "1.2", "ATS0": "1.3"}
# The expected-response count digit after a request (`010C1`) came with v1.3 as well.
COUNT_DIGIT_SINCE = "1.3"

_VERSION = re.compile(r"ELM327\s*v?(\d\.\d[a-z]?)", re.IGNORECASE)
_STN = re.compile(r"\b(STN\d{4})\b\s*v?([\w.]*)", re.IGNORECASE)
_PROTOCOL_NUMBER = re.compile(r"^A?[0-9A-C]$")


def accepted(command: str, lines: list[str]) -> bool:
    """Whether an optional command's reply lines mean it worked (not '?' nor garbage)."""
    text = " ".join(lines).upper()
    if command in ("ATWS", "ATZ"):
        return "ELM" in text or "STN" in text or "OBD" in text
    if command == "ATDPN":
        return len(lines) == 1 and bool(_PROTOCOL_NUMBER.match(lines[0].strip().upper()))
    if command == "ATDP":
        return any(w in text for w in ("CAN", "J1850", "ISO", "SAE"))
    if command == "STI":
        return bool(_STN.search(text))
    return "OK" in text


@dataclass(frozen=True)
class AdapterInfo:
    kind: str  # "stn", "elm327" (genuine), "clone", "unknown"
    banner: str  # what the reset printed, e.g. "ELM327 v1.5"
    chip: str = ""  # "STN2120 v5.6.19" for an STN
    family: str = ""  # "STN11xx", "STN21xx", "ELM327 v1.x", "ELM327 v2.x"

    @property
    def count_digit(self) -> bool:
        """Whether the chip takes the count digit: STN chips and ELM327 v1.3 or later do;
        a clone is given the benefit of the doubt (a '?' teaches the session otherwise)."""
        m = _VERSION.search(self.banner)
        if self.kind != "elm327" or m is None:
            return True
        return _newer_or_same(m.group(1).lower(), COUNT_DIGIT_SINCE)

    def describe(self) -> str:
        if self.kind == "stn":
            return f"{self.chip} ({self.family})"
        if self.kind == "elm327":
            return f"genuine {self.banner}"
        if self.kind == "clone":
            return f"clone ({self.banner or 'no banner'})"
        return self.banner or "unknown adapter"


def _newer_or_same(version: str, since: str) -> bool:
    def key(v: str) -> tuple[int, int, str]:
        return int(v[0]), int(v[2]), v[3:]

    return key(version) >= key(since)


def identify(banner: str, sti: str, refused: set[str]) -> AdapterInfo:
    """The adapter from its banner, its STI answer ("" if refused) and the optional
    commands it refused."""
    if m := _STN.search(sti):
        chip = m.group(0).strip()
        digits = m.group(1)[3:]
        return AdapterInfo("stn", banner, chip, f"STN{digits[:2]}xx")
    m = _VERSION.search(banner)
    if m is None:
        return AdapterInfo("unknown", banner)
    version = m.group(1).lower()
    if version not in GENUINE_ELM:
        return AdapterInfo("clone", banner, family=f"ELM327 v{version[0]}.x")
    documented = {c for c, since in SINCE.items() if _newer_or_same(version, since)}
    kind = "clone" if refused & documented else "elm327"
    return AdapterInfo(kind, banner, family=f"ELM327 v{version[0]}.x")
