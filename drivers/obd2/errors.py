"""Errors raised by the OBD2 driver. Third-party exceptions are translated here.

The tree, so callers can catch at the level they care about:

    OBDError
      ProtocolError            a reply we cannot make sense of (garbage, truncated frames)
        Truncated              a multi-frame reply cut short
      AdapterError             the adapter answered with a status word instead of data
        NoData, CanError, BusInitError, BufferFull, Stopped, UnableToConnect,
        UnknownCommand ('?'), BusBusy
      NegativeResponse         an ECU answered `7F <service> <NRC>`
      DecodeError              data arrived but does not decode (wrong length, bad VIN)
      ClearRefused             Mode 04 not sent: no confirmation, or the engine runs
      TransportError           the link itself
        BadURL, DongleNotFound, ConnectFailed, LinkLost, CommandTimeout
"""

from __future__ import annotations

__all__ = [
    "AdapterError",
    "BadURL",
    "BufferFull",
    "BusBusy",
    "BusInitError",
    "CanError",
    "ClearRefused",
    "CommandTimeout",
    "ConnectFailed",
    "DecodeError",
    "DongleNotFound",
    "LinkLost",
    "NegativeResponse",
    "NoData",
    "OBDError",
    "PairingError",
    "ProtocolError",
    "Stopped",
    "TransportError",
    "Truncated",
    "UnableToConnect",
    "UnknownCommand",
    "nrc_name",
]


class OBDError(Exception):
    """Root of every error the OBD2 driver raises."""


class ProtocolError(OBDError):
    """The adapter's reply is malformed: not hex, truncated frames, broken ISO-TP sequence."""


class Truncated(ProtocolError):
    """A multi-frame reply ended before its announced length (count digit too small,
    link dropped, BUFFER FULL)."""


class DecodeError(OBDError):
    """The reply is well formed but its data does not decode (length, range, check digit)."""


class ClearRefused(OBDError):
    """Clearing DTCs (Mode 04) was not done: it was not confirmed, the engine runs
    (RPM > 0, or RPM cannot be read), or an ECU refused it (`7F 04 22`)."""


class PairingError(OBDError):
    """A dongle pairing payload (QR sticker) is malformed."""


class AdapterError(OBDError):
    """The adapter answered a status word instead of data."""

    word = ""

    def __init__(self, text: str = "") -> None:
        super().__init__(text or self.word)
        self.text = text or self.word


class NoData(AdapterError):
    word = "NO DATA"


class CanError(AdapterError):
    word = "CAN ERROR"


class BusInitError(AdapterError):
    word = "BUS INIT: ...ERROR"


class BusBusy(AdapterError):
    word = "BUS BUSY"


class BufferFull(AdapterError):
    word = "BUFFER FULL"


class Stopped(AdapterError):
    word = "STOPPED"


class UnableToConnect(AdapterError):
    word = "UNABLE TO CONNECT"


class UnknownCommand(AdapterError):
    word = "?"


_NRC = {
    0x10: "generalReject",
    0x11: "serviceNotSupported",
    0x12: "subFunctionNotSupported",
    0x13: "incorrectMessageLengthOrInvalidFormat",
    0x21: "busyRepeatRequest",
    0x22: "conditionsNotCorrect",
    0x31: "requestOutOfRange",
    0x78: "requestCorrectlyReceivedResponsePending",
}


def nrc_name(nrc: int) -> str:
    return _NRC.get(nrc, f"NRC 0x{nrc:02X}")


class NegativeResponse(OBDError):
    """`7F <service> <nrc>` from an ECU: the request was refused, it is not data."""

    def __init__(self, service: int, nrc: int, ecu: str = "") -> None:
        where = f" from {ecu}" if ecu else ""
        super().__init__(f"negative response{where} to service 0x{service:02X}: {nrc_name(nrc)}")
        self.service = service
        self.nrc = nrc
        self.ecu = ecu


class TransportError(OBDError):
    """The link to the adapter failed."""


class BadURL(TransportError):
    """A dongle URL we do not understand."""


class DongleNotFound(TransportError):
    """No dongle answers at that address/name (BLE scan, missing serial device, refused TCP)."""


class ConnectFailed(TransportError):
    """The dongle was found but the connection or adapter init failed."""


class LinkLost(TransportError):
    """The link dropped (disconnect, EOF, device unplugged)."""


class CommandTimeout(TransportError):
    """No `>` prompt within the command's deadline."""
