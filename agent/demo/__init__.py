"""The narrated demo (`baygate demo`) and its local broker. Nothing imports this room."""
