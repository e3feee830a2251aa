"""The bay screen: visits and per-vehicle history kept in the agent's SQLite state,
live bay state fed by committed records, and the pages the local web serves."""
