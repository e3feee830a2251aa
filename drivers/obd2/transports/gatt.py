"""Which GATT characteristics of a BLE OBD dongle carry the ELM327 byte stream.

Picked by property (notify/indicate -> reader, write/write-without-response ->
writer) inside one vendor service; when several services qualify, or none has both,
the layouts seen in the field (docs/facts.md) decide. Pure logic over plain descriptions
of the GATT table, so it is testable without bleak.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["LAYOUTS", "CharInfo", "Layout", "layout_for_service", "pick_characteristics", "short_uuid"]


@dataclass(frozen=True)
class Layout:
    name: str  # short name used in pairing payloads: fff0, ffe0, 18f0, e781, nus
    service: str
    notify: str
    write: str


def _u16(x: str) -> str:
    return f"0000{x.lower()}-0000-1000-8000-00805f9b34fb"


LAYOUTS: tuple[Layout, ...] = (
    Layout("fff0", _u16("fff0"), _u16("fff1"), _u16("fff2")),  # Vgate iCar, Veepeak, clones
    Layout("ffe0", _u16("ffe0"), _u16("ffe1"), _u16("ffe1")),  # HM-10 style modules
    Layout("18f0", _u16("18f0"), _u16("2af0"), _u16("2af1")),
    Layout(
        "e781",
        "e7810a71-73ae-499d-8c15-faa9aef0c3f2",
        "bef8d6c9-9c21-4c9e-b632-bd58c1009f9f",
        "bef8d6c9-9c21-4c9e-b632-bd58c1009f9f",
    ),
    Layout(
        "nus",
        "6e400001-b5a3-f393-e0a9-e50e24dcca9e",
        "6e400003-b5a3-f393-e0a9-e50e24dcca9e",
        "6e400002-b5a3-f393-e0a9-e50e24dcca9e",
    ),
)
_BY_NAME = {lay.name: lay for lay in LAYOUTS}
# GAP, GATT, device information, battery: never the data pipe.
_STANDARD = {_u16(x) for x in ("1800", "1801", "180a", "180f")}


def short_uuid(uuid: str) -> str:
    u = uuid.lower()
    return u[4:8] if u.endswith("-0000-1000-8000-00805f9b34fb") and u.startswith("0000") else u


def layout_for_service(uuid_or_name: str) -> Layout | None:
    """The known layout for a service UUID (full or 16-bit) or a layout name."""
    key = uuid_or_name.lower()
    if key in _BY_NAME:
        return _BY_NAME[key]
    for lay in LAYOUTS:
        if key in (lay.service, short_uuid(lay.service)):
            return lay
    return None


@dataclass(frozen=True)
class CharInfo:
    service: str
    uuid: str
    properties: frozenset[str]
    handle: int = 0


_READ_PROPS = {"notify", "indicate"}
_WRITE_PROPS = {"write", "write-without-response"}


def pick_characteristics(
    chars: list[CharInfo], prefer: str | None = None
) -> tuple[CharInfo, CharInfo] | None:
    """(reader, writer) for this GATT table, or None when nothing fits.

    `prefer` is a layout name or service UUID (from the dongle's pairing payload).
    """
    services: dict[str, list[CharInfo]] = {}
    for c in chars:
        if c.service.lower() not in _STANDARD:
            services.setdefault(c.service.lower(), []).append(c)
    order = list(services)
    preferred = layout_for_service(prefer) if prefer else None
    known = [lay.service for lay in ([preferred] if preferred else []) + list(LAYOUTS)]
    # Known services first (preferred one first), then the rest in table order.
    order.sort(key=lambda s: known.index(s) if s in known else len(known))
    for svc in order:
        members = services[svc]
        lay = layout_for_service(svc)
        if lay is not None:
            by_uuid = {c.uuid.lower(): c for c in members}
            r, w = by_uuid.get(lay.notify), by_uuid.get(lay.write)
            if r is not None and w is not None and r.properties & _READ_PROPS and w.properties & _WRITE_PROPS:
                return r, w
        readers = [c for c in members if c.properties & _READ_PROPS]
        writers = [c for c in members if c.properties & _WRITE_PROPS]
        if readers and writers:
            # A characteristic that does both (HM-10) is fine for both roles.
            return readers[0], writers[0]
    # Layout UUIDs outside their usual service (some firmwares reuse them).
    every = {c.uuid.lower(): c for c in chars}
    for lay in LAYOUTS:
        r, w = every.get(lay.notify), every.get(lay.write)
        if r is not None and w is not None:
            return r, w
    return None
