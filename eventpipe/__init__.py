"""eventpipe: raw event-camera recordings to fast, reproducible, reusable training caches."""

from __future__ import annotations

__version__ = "0.1.0"
