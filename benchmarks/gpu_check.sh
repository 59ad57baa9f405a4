#!/usr/bin/env bash
# Will the full profile fit a GPU runner?  One short, offline run on the machine
# in question (a CUDA GPU, no internet needed): full-size stand-ins of both
# datasets (25,000 + 7,390 JPEGs of ~500x375), then per framework the models'
# throughput (MobileNetV2 / EfficientNet-Lite0 with ImageNet weights; VGG-16 and
# ResNet-50 RANDOMLY INITIALISED, throughput only), the input pipelines, and the
# lesson's pipeline end to end; prints images/s, time per epoch, and an estimate
# of the full profile's training time per assignment.  See tlcourse/bench/gpu.py.
#
#   benchmarks/gpu_check.sh                     # full size (a GPU runner: a few minutes)
#   GPU_CHECK_SIZE=tiny benchmarks/gpu_check.sh # a few images on a CPU: does it work?
#
# Other settings (environment): GPU_CHECK_DIR, GPU_CHECK_WORKERS, GPU_CHECK_STEPS,
# GPU_CHECK_FRAMEWORKS=torch,tf, GPU_CHECK_MODELS, GPU_CHECK_JSON=out.json, PYTHON.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-.venv/bin/python}"
[ -x "$PY" ] || PY="$(command -v python3)"
export GPU_CHECK_SIZE="${GPU_CHECK_SIZE:-full}"
# busy-waiting OpenMP threads slow torch down badly on shared CPUs
export OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-PASSIVE}"
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || echo "no nvidia-smi: no CUDA GPU visible"
start=$(date +%s)
"$PY" -m tlcourse.bench.gpu
echo "gpu_check: done in $(( $(date +%s) - start )) s (size $GPU_CHECK_SIZE)"
