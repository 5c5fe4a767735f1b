#!/usr/bin/env bash
# The trainers' CUDA path in one go, on a machine with an NVIDIA GPU (CI has none):
#   1. tests/test_gpu.py (CUDA == CPU for STBP and SLAYER, chunked eval, AMP, CLI --device cuda)
#   2. benchmarks/stbp.py and benchmarks/slayer.py on CUDA (this implementation vs eager)
#   3. a 2-epoch, 1-fold run of each trainer on the quick-start-sized SYNTHETIC set
#
#   benchmarks/gpu_check.sh [OUTDIR]      # default: runs/gpu_check
#
# Each step has its own time limit and a failing step does not stop the others; the last lines
# printed are a table of the steps' exit codes. Everything is logged to OUTDIR/log.txt, the
# benchmark tables to OUTDIR/{stbp,slayer}.json and the runs' results to OUTDIR/*_results.json.
# Needs: the package's dependencies except dask and tonic (the build runs in-process).
set -u
cd "$(dirname "$0")/.."
out=${1:-runs/gpu_check}
mkdir -p "$out"
py=${PYTHON:-python3}
export PYTHONUNBUFFERED=1 PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
log="$out/log.txt"
work=$(mktemp -d)
summary=()

step() {  # step NAME SECONDS CMD...
    local name=$1 limit=$2
    shift 2
    echo "=== $name (limit ${limit}s): $*" | tee -a "$log"
    local t0=$SECONDS
    timeout "$limit" "$@" 2>&1 | tee -a "$log"
    local rc=${PIPESTATUS[0]}
    summary+=("$(printf '%-14s rc=%-3s %4ss' "$name" "$rc" "$((SECONDS - t0))")")
}

{
    date -u
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
    "$py" -c "import sys, torch, numba, numpy; print(sys.version.split()[0], 'torch', \
torch.__version__, 'cuda', torch.version.cuda, 'numba', numba.__version__, 'numpy', \
numpy.__version__, torch.cuda.get_device_name(0))"
} 2>&1 | tee -a "$log"

step tests 240 "$py" -m pytest -q -s -m gpu tests/test_gpu.py -p no:cacheprovider
step bench-stbp 150 "$py" benchmarks/stbp.py --device cuda --repeat 5 \
    --variants fused,fused-amp,eager --json "$out/stbp.json"
step synth+build 90 bash -c "'$py' -m eventpipe synth --out '$work/raw' --scale small -q && \
'$py' -m eventpipe build --raw '$work/raw' --out '$work/cache.h5' --no-parquet --workers 1 \
--set views.decolle=null -q"
for method in stbp slayer; do
    step "train-$method" 150 "$py" -m trainers.$method --cache "$work/cache.h5" --epochs 2 \
        --folds 1 --device cuda --workers 4 --quiet --out "$work/$method"
    cp "$work/$method/results.json" "$out/${method}_results.json" 2>/dev/null
done
step bench-slayer 150 "$py" benchmarks/slayer.py --device cuda --runs 3 --json "$out/slayer.json"

rm -rf "$work"
printf '%s\n' "${summary[@]}" | tee -a "$log"
