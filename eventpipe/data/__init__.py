"""eventpipe/data."""
