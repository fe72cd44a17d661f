#!/usr/bin/env bash
# Run on a lent GPU machine: what helps CoT on ProsQA from scratch? Graph size, data, learning
# rate; parallel runs capped at TRAIN_SECONDS; logs and metrics tarred into $OUT.
set -u
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TRANSFORMERS_OFFLINE=1
TRAIN_SECONDS=${TRAIN_SECONDS:-230}
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
  --target /tmp/site .whl/*.whl || exit 3
export PYTHONPATH=/tmp/site:$PWD
gen() { python3 -m lwb.cli data generate --task prosqa --quiet "$@"; }
gen --preset demo --split train --n 40000 --out /tmp/d40k.jsonl &
gen --preset tiny --split train --n 40000 --out /tmp/t40k.jsonl &
gen --preset tiny --split valid --n 300 --out /tmp/tval.jsonl &
gen --preset tiny --split test --n 300 --out /tmp/ttest.jsonl &
wait
mkdir -p /tmp/p
run() {
  name=$1; shift
  timeout $TRAIN_SECONDS python3 -m lwb.cli train --task prosqa --method cot \
    --size micro --device cuda --quiet --eval-every 400 --latency-examples 0 \
    --out /tmp/p/$name "$@" > /tmp/p/$name.log 2>&1
  echo "$name rc=$?"
}
run demo40k-lr2e3 --preset demo --train-data /tmp/d40k.jsonl --epochs 2 &
run demo40k-lr5e4 --preset demo --train-data /tmp/d40k.jsonl --epochs 2 --lr 5e-4 &
run tiny40k-lr2e3 --preset tiny --train-data /tmp/t40k.jsonl --valid-data /tmp/tval.jsonl --test-data /tmp/ttest.jsonl --epochs 2 &
run tiny40k-lr5e4 --preset tiny --train-data /tmp/t40k.jsonl --valid-data /tmp/tval.jsonl --test-data /tmp/ttest.jsonl --epochs 2 --lr 5e-4 &
run demo40k-nocot --preset demo --method nocot --train-data /tmp/d40k.jsonl --epochs 2 &
run tiny40k-nocot --preset tiny --method nocot --train-data /tmp/t40k.jsonl --valid-data /tmp/tval.jsonl --test-data /tmp/ttest.jsonl --epochs 2 &
wait
cd /tmp/p && find . -name "*.safetensors" -delete && find . -name optimizer.pt -delete
tar czf "$OUT/cot_sweep.tgz" .
ls -la "$OUT"
