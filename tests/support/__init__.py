"""Test-side helpers shared by every test package (real processes, free ports)."""
