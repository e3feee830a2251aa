"""Hardware drivers. Each subpackage imports nothing of ours but itself."""
