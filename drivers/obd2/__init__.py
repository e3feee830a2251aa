"""OBD2 over ELM327 adapters: sans-IO protocol, decoding, transports (ble, serial, tcp)."""
