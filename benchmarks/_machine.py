"""What machine a benchmark ran on: one line every benchmark prints and stores with its numbers."""

from __future__ import annotations

import os
import platform
from pathlib import Path


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo, or the platform's best guess."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def describe() -> str:
    """``"2 cores (Intel Xeon ...), 24 GiB RAM, x86_64, torch 2.13.0, no GPU"``-style summary."""
    parts = [f"{os.cpu_count()} cores ({cpu_model()})"]
    try:
        import psutil

        parts.append(f"{psutil.virtual_memory().total / 2**30:.0f} GiB RAM")
    except ImportError:
        pass
    parts.append(platform.machine())
    try:
        import torch

        gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
        parts.append(f"torch {torch.__version__}, {gpu}")
    except ImportError:
        pass
    return ", ".join(parts)
