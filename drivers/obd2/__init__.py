"""OBD2 over ELM327 adapters: sans-IO protocol, decoding, transports (ble, serial, tcp).

    from drivers.obd2.transports import transport_for_url
    from drivers.obd2.session import Session
    from drivers.obd2 import diagnostics

    session = Session(lambda: transport_for_url("ble://AA:BB:CC:DD:EE:FF"), dongle="bay1")
    await session.connect()
    vin, valid = await diagnostics.read_vin(session)

Layers (docs/obd.md): elm327 (framing) -> frames (headers, ISO-TP) -> reply (per ECU,
negative responses) -> pids/dtc/readiness/vin (decoding); transports/ (I/O), session
(init, deadlines, health, quirks), diagnostics and scheduler (what to ask, how fast).
This package imports nothing of ours outside itself (docs/design.md import rule).
"""
