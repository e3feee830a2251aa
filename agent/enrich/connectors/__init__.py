"""Manufacturer connectors: TOML definitions (config/manufacturers/*.toml) run by one engine."""
