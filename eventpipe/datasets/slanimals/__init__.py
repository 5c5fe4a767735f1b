"""eventpipe/datasets/slanimals."""
