"""Stand-ins for hardware and remote services. Independent peers: they import nothing of ours."""
