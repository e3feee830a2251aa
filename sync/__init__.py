"""Durable delivery: SQLite outbox, MQTT link, remote commands, reference backend ingest.

Imports nothing of ours: it moves opaque, already-validated records.
"""
