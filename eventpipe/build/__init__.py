"""``build_cache``: raw recordings -> versioned HDF5 cache (+ Parquet dataset), in parallel.

The build is a package whose modules follow its flow::

    plan.py        1. plan        profile, dataset (from the registry), recordings, paths,
                                  workers/executor -> BuildPlan
    freshness.py   2. up to date? profile hash + source digest + format version; Parquet currency
    executors.py   3. run         in-process, local process pool, dask; results in order
    stages.py         (the task)  read -> slice -> events stage -> views, for one recording
    arena.py          (transfer)  one buffer per result, in shared memory between processes
    commit.py      4. commit      temporary names, background fsync, rename, Parquet swap
    progress.py                   the progress bar
    results.py                    RecordingResult (task -> commit), BuildResult (the report)
    flow.py                       build_cache: the four steps in sequence

Atomicity: an interrupted build leaves the previous cache or none, never a half file, and the
next run removes what it left (see :mod:`eventpipe.build.commit`). A rerun whose resolved
profile hash, source digest and major format version equal the existing cache's is a no-op
("cache up to date").

>>> from eventpipe.build import build_cache                               # doctest: +SKIP
>>> res = build_cache("lascas2024", raw_dir="data/raw", out="data/cache.h5")  # doctest: +SKIP
>>> res.status, res.n_samples                                             # doctest: +SKIP
('built', 1121)
"""

from __future__ import annotations

from eventpipe.build.commit import clean_stale_temps
from eventpipe.build.flow import build_cache
from eventpipe.build.plan import DEFAULT_EXECUTOR, EXECUTORS, BuildPlan, is_synthetic_raw, make_plan
from eventpipe.build.results import BuildResult, RecordingResult
from eventpipe.build.stages import TaskPlan, ViewPlan, process_recording, warm_up

__all__ = [
    "DEFAULT_EXECUTOR",
    "EXECUTORS",
    "BuildPlan",
    "BuildResult",
    "RecordingResult",
    "TaskPlan",
    "ViewPlan",
    "build_cache",
    "clean_stale_temps",
    "is_synthetic_raw",
    "make_plan",
    "process_recording",
    "warm_up",
]
