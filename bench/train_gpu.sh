#!/usr/bin/env bash
# Fine-tuning on the CIFAR-10 protocol on a lent GPU machine (one H100/H200):
#   DPSH at 12/24/32/48 bits, DSH and DHN at 48 bits, EfficientNet-Lite0 (ImageNet weights)
#   fine-tuned end to end at 224x224, mAP@ALL tie-aware; meant to fit in 10 minutes of device time.
# Run from the repository root on the device machine, after building the extension
# (tools/dev_build.sh) or with a built deephash/_core beside the sources:
#   bash bench/train_gpu.sh [OUT_DIR]
# Needs the data file cifar10-jpeg.tar.xz in $DEEPHASH_DATA (default ../shared/data or shared/data).
# Results: OUT_DIR/{dpsh,dsh_dhn}.json and the printed tables.
# Not run yet: the session that wrote it had no GPU; its timings and mAPs are unmeasured.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT_DIR="${1:-${OUT:-out/train_gpu}}"
mkdir -p "$OUT_DIR"
if [ -z "${DEEPHASH_DATA:-}" ]; then
  for d in ../shared/data shared/data; do
    if [ -f "$d/cifar10-jpeg.tar.xz" ]; then export DEEPHASH_DATA="$d"; break; fi
  done
fi
export PYTHONPATH="python${PYTHONPATH:+:$PYTHONPATH}"
export DEEPHASH_CACHE_DIR="${DEEPHASH_CACHE_DIR:-$OUT_DIR/feature_cache}"
python -c "import torch; assert torch.cuda.is_available(), 'no CUDA device'; print(torch.cuda.get_device_name(0))"

# 15 epochs over 5,000 images, batch 64, head lr 1e-3, backbone lr 1e-4 (backbone_lr_scale 0.1),
# random horizontal flips; pairs within each batch (memory bank off for end-to-end training).
COMMON=(--finetune --device cuda --resolution 224 --epochs 15 --lr 1e-3 --batch-size 64 --flip --quiet)
# RECIPE=partial bash bench/train_gpu.sh: the CPU recipe on the GPU (activations below block 11
# cached once, blocks 11-15 + head trained, cached flipped views), the same command as on a CPU.
if [ "${RECIPE:-full}" = partial ]; then
  COMMON=(--recipe partial --train-from-block 11 --device cuda --resolution 160 --epochs 8 --lr 1e-3
          --batch-size 32 --flip --quiet)
fi
# Each call has its own wall-clock cap so that one slow run cannot eat the whole budget.
timeout 330 python bench/cifar_protocol.py --methods DPSH --bits 12,24,32,48 "${COMMON[@]}" \
  --json "$OUT_DIR/dpsh.json" || echo "DPSH runs stopped (exit $?)"
timeout 200 python bench/cifar_protocol.py --methods DSH,DHN --bits 48 "${COMMON[@]}" \
  --json "$OUT_DIR/dsh_dhn.json" || echo "DSH/DHN runs stopped (exit $?)"
