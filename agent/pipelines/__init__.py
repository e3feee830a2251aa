"""Pipelines: vehicle sessions, scan stations, camera sources, the sink seam and the
enrichment feed, wired together by `wiring.agent_pipeline`."""
