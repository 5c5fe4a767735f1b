"""The one sparsity test of the first layers' event paths (trainers.common.sparsity)."""

from __future__ import annotations

import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from trainers.common.sparsity import EVENT_DENSITY_MAX, sparse_enough


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 6), st.integers(1, 7), st.integers(1, 9), st.floats(0, 1), st.integers(0, 99))
def test_sparse_enough_counts_the_nonzero_cells_of_any_layout(t, b, f, density, seed):
    g = torch.Generator().manual_seed(seed)
    x = (torch.rand(b, t, f, generator=g) < density).float() * torch.randn(b, t, f, generator=g)
    view = x.transpose(0, 1)  # [T, B, F] strided, as the trainers pass it
    nonzero = sum(1 for v in view.flatten().tolist() if v != 0)
    for fraction in (0.0, EVENT_DENSITY_MAX, nonzero / x.numel(), 1.0):
        assert sparse_enough(view, fraction) == (nonzero <= fraction * x.numel())
    assert sparse_enough(view) == (nonzero <= EVENT_DENSITY_MAX * x.numel())
