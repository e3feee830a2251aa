"""The AT command set of an ELM327 v1.5 (the version most clones report).

Each handler returns reply groups: (delay before, lines). Unknown commands answer "?"
as a real adapter does.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from .timing import ST_DEFAULT

if TYPE_CHECKING:
    from .engine import Elm327

__all__ = ["PROTOCOL_NAMES", "AtCommands"]

Groups = list[tuple[float, list[str]]]

PROTOCOL_NAMES = {
    0: "AUTO",
    1: "SAE J1850 PWM",
    2: "SAE J1850 VPW",
    3: "ISO 9141-2",
    4: "ISO 14230-4 (KWP 5BAUD)",
    5: "ISO 14230-4 (KWP FAST)",
    6: "ISO 15765-4 (CAN 11/500)",
    7: "ISO 15765-4 (CAN 29/500)",
    8: "ISO 15765-4 (CAN 11/250)",
    9: "ISO 15765-4 (CAN 29/250)",
    0xA: "SAE J1939 (CAN 29/250)",
    0xB: "USER1 (CAN 11/125)",
    0xC: "USER2 (CAN 11/50)",
}

# Commands a real adapter accepts with OK and that change nothing we simulate.
ACCEPTED = (
    "M0",
    "M1",
    "AL",
    "NL",
    "AR",
    "PC",
    "BI",
    "IB10",
    "IB96",
    "KW0",
    "KW1",
    "R0",
    "R1",
    "CFC0",
    "CFC1",
    "V0",
    "V1",
    "JE",
    "JS",
    "FE",
    "CSM0",
    "CSM1",
)
OK = ["OK"]


class AtCommands:
    def __init__(self, elm: Elm327) -> None:
        self.elm = elm
        self.flags: dict[str, Callable[[bool], None]] = {
            "E": self._echo,
            "L": lambda on: setattr(elm.settings, "linefeeds", on),
            "S": lambda on: setattr(elm.settings, "spaces", on),
            "H": self._headers,
            "CAF": lambda on: setattr(elm.settings, "caf", on),
        }

    def run(self, cmd: str) -> Groups:
        """`cmd` is the command without "AT", spaces removed, upper case."""
        elm = self.elm
        if cmd in ("Z", "WS"):
            elm.reset()
            cost = elm.timing.reset_ms / (1000 if cmd == "Z" else 4000)
            return [(cost, ["", "", elm.version])]
        if cmd == "D":
            elm.reset()
            return [(0.0, OK)]
        if cmd == "I":
            return [(0.0, [elm.version])]
        if cmd == "@1":
            return [(0.0, ["OBDII to RS232 Interpreter"])]
        if cmd == "RV":
            return [(0.0, [f"{elm.profile.battery_v.value(elm.clock() - elm.started):.1f}V"])]
        if cmd == "DP":
            return [(0.0, [self._describe()])]
        if cmd == "DPN":
            bus = elm.bus
            return [(0.0, [("A" if bus.auto else "") + f"{bus.protocol:X}"])]
        if cmd in ACCEPTED:
            return [(0.0, OK)]
        for prefix in ("CAF", "E", "L", "S", "H"):
            if cmd in (prefix + "0", prefix + "1"):
                return self._flag(prefix, cmd.endswith("1"))
        return self._with_argument(cmd)

    def _with_argument(self, cmd: str) -> Groups:
        elm = self.elm
        if cmd in ("AT0", "AT1", "AT2"):
            elm.settings.adaptive = int(cmd[2])
            return [(0.0, OK)]
        if cmd.startswith("ST") and len(cmd) == 4 and _is_hex(cmd[2:]):
            # ATST 00 restores the default rather than waiting 0 ms (datasheet).
            elm.settings.st = int(cmd[2:], 16) or ST_DEFAULT
            return [(0.0, OK)]
        if cmd[:2] in ("SP", "TP"):
            return self._protocol(cmd[2:], save=cmd.startswith("SP"))
        if cmd.startswith("SH") and len(cmd) in (5, 8) and _is_hex(cmd[2:]):
            elm.settings.header = int(cmd[2:], 16) if len(cmd) == 5 else None
            return [(0.0, OK)]
        return [(0.0, ["?"])]

    def _flag(self, name: str, on: bool) -> Groups:
        if name == "H" and on and self.elm.quirks.h1_not_ok:
            return [(0.0, ["?"])]
        self.flags[name](on)
        return [(0.0, OK)]

    def _echo(self, on: bool) -> None:
        if not self.elm.quirks.echo_sticks:
            self.elm.settings.echo = on

    def _headers(self, on: bool) -> None:
        self.elm.settings.headers = on

    def _protocol(self, arg: str, save: bool) -> Groups:
        auto = arg.startswith("A") and len(arg) == 2
        digit = arg[1:] if auto else arg
        if len(digit) != 1 or not _is_hex(digit) or int(digit, 16) > 0xC:
            return [(0.0, ["?"])]
        number = int(digit, 16)
        bus = self.elm.bus
        bus.protocol, bus.auto, bus.connected = number, auto or number == 0, False
        if save:
            bus.saved, bus.saved_auto = bus.protocol, bus.auto
        return [(0.0, OK)]

    def _describe(self) -> str:
        bus = self.elm.bus
        name = PROTOCOL_NAMES[bus.protocol]
        if bus.auto and bus.protocol:
            return "AUTO, " + name
        return name


def _is_hex(text: str) -> bool:
    return bool(text) and all(c in "0123456789ABCDEF" for c in text)
