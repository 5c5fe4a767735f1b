"""Fuzzing the readers: shared seeds/invariant (``corpus``) and the atheris harness."""
