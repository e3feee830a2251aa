"""Classifying a decoded payload. Payloads are untrusted input: they are length-capped,
kept binary-safe (base64 when not text), and never executed, opened or followed — a URL
is recorded as a URL, nothing more.

Classes, first match wins:
  dongle_pairing  'BAYGATE:DONGLE:' + body (format owned by the OBD driver); the body's
                  'k=v;' pairs are passed through as fields when it is made of them.
  job_ticket      'BAYGATE:JOB:v1;id=<ticket id>[;k=v]...' — id is 1-32 chars of
                  [A-Za-z0-9_-]; other keys (bay, ro = repair order, vin, ...) pass through.
  gs1             GS1 element string ('(01)..(21)..', or FNC1/GS form) or Digital Link URL.
  vin             a VIN by the rules in vin.py.
  url             http(s):// URL (never followed).
  serial          accepted by a manufacturer serial rule.
  raw             anything else.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

from drivers.camera.errors import PayloadError
from drivers.camera.gs1 import parse_digital_link, parse_element_string
from drivers.camera.serials import SerialMatch, SerialRule, match_gs1, match_serial
from drivers.camera.symbology import CAPACITY
from drivers.camera.vin import VinCheck, vin_from_barcode

__all__ = ["DONGLE_PREFIX", "JOB_PREFIX", "MAX_PAYLOAD_CHARS", "Classified", "classify", "parse_pairs"]

Kind = Literal["vin", "serial", "dongle_pairing", "job_ticket", "url", "gs1", "raw"]
# The largest payload any symbol carries: a numeric QR code, 7,089 digits (an
# alphanumeric one holds 4,296 characters; the old 4,096 cap dropped valid ones).
MAX_PAYLOAD_CHARS = max(CAPACITY.values())
DONGLE_PREFIX = "BAYGATE:DONGLE:"
JOB_PREFIX = "BAYGATE:JOB:"
_PAIR = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]{0,31}$")
_TICKET_ID = re.compile(r"^[A-Za-z0-9_-]{1,32}$")
_MAX_FIELDS = 32
_MAX_FIELD = 256


@dataclass(frozen=True)
class Classified:
    kind: Kind
    fields: dict[str, str] = field(default_factory=dict)
    vin: VinCheck | None = None
    serial: SerialMatch | None = None


def parse_pairs(body: str) -> dict[str, str] | None:
    """'a=1;b=2;' -> {'a': '1', 'b': '2'}; None unless the whole body is such pairs."""
    out: dict[str, str] = {}
    for part in body.split(";"):
        if not part:
            continue
        key, sep, value = part.partition("=")
        if not sep or not _PAIR.match(key) or len(value) > _MAX_FIELD or key in out:
            return None
        out[key] = value
    return out if 0 < len(out) <= _MAX_FIELDS else None


def classify(
    symbology: str, payload: str, rules: Iterable[SerialRule] = (), encoding: str = "utf-8"
) -> Classified:
    """The class of one payload (PayloadError when it is empty or over the cap)."""
    if not payload:
        raise PayloadError("empty payload")
    if len(payload) > MAX_PAYLOAD_CHARS:
        raise PayloadError(f"payload of {len(payload)} characters is over the {MAX_PAYLOAD_CHARS} cap")
    if encoding != "utf-8":
        return Classified("raw")
    rules = tuple(rules)
    if payload.startswith(DONGLE_PREFIX):
        return Classified("dongle_pairing")  # read by drivers.obd2.pairing in the agent
    if payload.startswith(JOB_PREFIX):
        ticket = _job(payload[len(JOB_PREFIX) :])
        return Classified("job_ticket", ticket) if ticket else Classified("raw")
    gs1 = parse_element_string(payload) or parse_digital_link(payload)
    if gs1:
        return Classified("gs1", gs1, serial=match_gs1(gs1, rules))
    vin = vin_from_barcode(symbology, payload)
    if vin:
        return Classified("vin", vin=vin)
    if payload.lower().startswith(("http://", "https://")):
        return Classified("url")
    serial = match_serial(payload, rules)
    if serial:
        return Classified("serial", serial=serial)
    return Classified("raw")


def _job(body: str) -> dict[str, str] | None:
    version, sep, rest = body.partition(";")
    if version != "v1" or not sep:
        return None
    fields = parse_pairs(rest)
    if not fields or not _TICKET_ID.match(fields.get("id", "")):
        return None
    return fields
