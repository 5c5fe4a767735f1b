"""The trainers' CUDA path: the same models on a GPU compute what they compute on the CPU.

Marked ``gpu`` and skipped where ``torch.cuda.is_available()`` is false (CI has no GPU). Run on a
CUDA machine with ``python -m pytest -m gpu tests/test_gpu.py``; ``benchmarks/gpu_check.sh``
runs these tests, the CUDA benchmarks and a short training run in one go.

On CUDA the STBP LIF and the SLAYER neuron run as in-place torch operations (the Numba kernels
are CPU-only), so these tests compare CUDA float64 against the CPU float64 path (Numba kernels,
sparse first layer): spikes must be identical and gradients equal to rounding. float32 on CUDA
uses cuDNN (TF32 for convolutions by default on Ampere and later), whose rounding differs from
oneDNN's, so a float32 spike can flip near the threshold: those tests bound how many do.
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA"),
]

REPO = Path(__file__).resolve().parents[1]
CUDA = torch.device("cuda")
F64 = torch.float64


def _stbp_pair(dtype=F64, seed=0):
    """The STBP model tests' active network (weights x3 so every layer spikes, exact float32
    backward) on the CPU, a copy on CUDA, and 30%-dense input ``[3, 7, 2, 18, 22]``."""
    from tests.test_stbp_model import _active_model, _frames

    cpu = _active_model((22, 18, 2), dtype, seed=seed)
    return cpu, copy.deepcopy(cpu).to(CUDA), _frames(3, 7, (22, 18, 2), dtype, seed=seed + 1)


def _grads(model, x, weights):
    out = model(x)
    (out * weights.to(out.device)).sum().backward()
    return out.detach().cpu(), {k: p.grad.detach().cpu() for k, p in model.named_parameters()}


def test_stbp_cuda_float64_equals_cpu():
    cpu, gpu, x = _stbp_pair()
    with torch.no_grad():
        assert torch.equal(gpu.spikes(x.to(CUDA)).cpu(), cpu.spikes(x))
    w = torch.linspace(-1, 1, 19, dtype=F64)
    out_c, g_c = _grads(cpu, x, w)
    out_g, g_g = _grads(gpu, x.to(CUDA), w)
    assert 0 < out_c.mean() < 1, "test input must make the output layer spike"
    # identical spikes; the rate's mean over T may differ in the last bit (reduction order)
    torch.testing.assert_close(out_g, out_c, rtol=0, atol=1e-12)
    for k in g_c:
        assert g_c[k].abs().max() > 0, k
        torch.testing.assert_close(g_g[k], g_c[k], rtol=1e-9, atol=1e-9, msg=k)


def _flipped(a: torch.Tensor, b: torch.Tensor) -> float:
    return (a != b).float().mean().item()


def test_stbp_cuda_float32_close_to_cpu(monkeypatch):
    """float32: same spikes up to threshold flips from cuDNN's rounding. Reports both with and
    without TF32 convolutions (PyTorch's default on Ampere and later: allow_tf32=True)."""
    cpu, gpu, x = _stbp_pair(torch.float32, seed=2)
    with torch.no_grad():
        ref = cpu.spikes(x)
        flips = {}
        for tf32 in (True, False):
            monkeypatch.setattr(torch.backends.cudnn, "allow_tf32", tf32)
            flips[tf32] = _flipped(gpu.spikes(x.to(CUDA)).cpu(), ref)
    print(f"output spikes differing from CPU float32: TF32 {flips[True]:.4f}, "
          f"exact float32 {flips[False]:.4f}")  # fmt: skip
    assert flips[False] < 0.05, flips


def test_stbp_cuda_chunked_eval_equals_full():
    """Evaluation in time chunks carries the state exactly (float64: cuDNN picks algorithms
    per shape, and in float32 their rounding differences can flip a spike)."""
    _, gpu, x = _stbp_pair(seed=3)
    gpu.eval()
    x = x.to(CUDA).repeat(1, 5, 1, 1, 1)  # 35 steps
    with torch.no_grad():
        gpu.eval_time_chunk = None
        full = gpu(x)
        for chunk in (1, 4, 16):
            gpu.eval_time_chunk = chunk
            torch.testing.assert_close(gpu(x), full, rtol=0, atol=1e-12, msg=str(chunk))
    assert 0 < full.mean() < 1


def test_stbp_amp_step_keeps_float32_state_and_learns():
    """One float16-autocast training step through the trainers' Assistant (GradScaler on)."""
    from trainers.common.loop import Assistant
    from trainers.stbp.method import METHOD

    _, gpu, x = _stbp_pair(torch.float32, seed=4)
    opt = torch.optim.Adam(gpu.parameters(), lr=1e-3)
    assistant = Assistant(gpu, METHOD, opt, CUDA, amp=True)
    assert assistant.scaler.is_enabled()
    before = {k: v.clone() for k, v in gpu.state_dict().items()}
    labels = torch.tensor([0, 5, 18])
    losses = [assistant.train(x, labels).loss for _ in range(3)]
    assert all(torch.isfinite(torch.tensor(losses)))
    assert all(p.dtype == torch.float32 for p in gpu.parameters())
    changed = [k for k, v in gpu.state_dict().items() if not torch.equal(v, before[k])]
    assert changed, "three AMP steps must change the weights"


def _slayer_pair(seed=0):
    """The SLAYER tests' tiny active network (float64) on the CPU and a copy on CUDA."""
    from tests.test_slayer_model import _tiny_pair

    cpu, x = _tiny_pair(seed)
    return cpu, copy.deepcopy(cpu).to(CUDA), x


def test_slayer_cuda_float64_equals_cpu():
    cpu, gpu, x = _slayer_pair()
    out_c = cpu(x)
    out_g = gpu(x.to(CUDA))
    assert out_c.sum() > 0
    torch.testing.assert_close(out_g.cpu(), out_c, rtol=0, atol=0)
    g = torch.randn_like(out_c)
    for (name, _), a, b in zip(
        cpu.named_parameters(),
        torch.autograd.grad(out_c, list(cpu.parameters()), g),
        torch.autograd.grad(out_g, list(gpu.parameters()), g.to(CUDA)),
    ):
        assert a.abs().sum() > 0, name
        torch.testing.assert_close(b.cpu(), a, rtol=1e-9, atol=1e-9 * a.abs().max().item())


def test_slayer_cuda_streamed_eval_equals_full():
    from tests.test_slayer_model import check_streamed_equals_full

    _, gpu, x = _slayer_pair(3)
    check_streamed_equals_full(gpu.float(), x.float().to(CUDA))


@pytest.fixture(scope="module")
def tiny_cache(tmp_path_factory) -> Path:
    from tests.test_trainer_cli import build_tiny_cache

    return build_tiny_cache(tmp_path_factory.mktemp("gpucache"))


@pytest.mark.parametrize("module", ["stbp", "slayer"])
@pytest.mark.parametrize("amp", [False, True])
def test_cli_trains_on_cuda(module, amp, tiny_cache, tmp_path):
    """``python -m trainers.<method> --device cuda [--amp]`` as a user runs it."""
    out = tmp_path / "run"
    args = ["--cache", str(tiny_cache), "--epochs", "2", "--folds", "1", "--device", "cuda"]
    args += ["--out", str(out), "--quiet", *(["--amp"] if amp else [])]
    path = [str(REPO), *filter(None, [os.environ.get("PYTHONPATH")])]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(path)}
    r = subprocess.run(
        [sys.executable, "-m", f"trainers.{module}", *args],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr[-3000:]
    res = json.loads((out / "results.json").read_text())
    assert res["environment"]["device"].startswith("cuda")
    assert res["environment"]["device_name"] == torch.cuda.get_device_name(0)
    assert res["config"]["amp"] is amp
    history = res["folds"][0]["history"]
    assert len(history) == 2
    assert all(h["train_loss"] == h["train_loss"] for h in history)  # not NaN
    assert (out / "fold1" / "best.pt").exists()
