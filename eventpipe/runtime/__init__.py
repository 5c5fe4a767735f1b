"""eventpipe/runtime."""
