"""eventpipe/report."""
