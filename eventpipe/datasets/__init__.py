"""eventpipe/datasets."""
