#!/usr/bin/env bash
# Run on a lent GPU machine (see the device tool): a smoke test of `--device cuda`, then the
# prosqa demo preset for the five methods (and a CoT variant with 5x data and a 4x wider
# model), in parallel processes, each capped at TRAIN_SECONDS. Results (run directories
# without checkpoints) are tarred into $OUT.
set -u
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TRANSFORMERS_OFFLINE=1
TRAIN_SECONDS=${TRAIN_SECONDS:-380}
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
  --target /tmp/site .whl/*.whl || exit 3
export PYTHONPATH=/tmp/site:$PWD
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
python3 -c "import torch, transformer_lens; print('torch', torch.__version__, 'cuda', torch.cuda.is_available())"
t0=$(date +%s)
python3 -m lwb.cli train --task chain --preset tiny --method rim --size nano --steps 150 \
  --lr 3e-3 --device cuda --latency-examples 2 --out /tmp/smoke --quiet || exit 4
python3 -c "import json; m=json.load(open('/tmp/smoke/metrics.json')); print('smoke rim test acc', m['test']['accuracy'], 'train s', round(m['train']['seconds'],1))"
echo "smoke took $(( $(date +%s) - t0 )) s"
python3 -m lwb.cli data generate --task prosqa --preset demo --split train --n 40000 \
  --seed 0 --out /tmp/p40k.jsonl --quiet
mkdir -p /tmp/p
run() {
  name=$1; shift
  timeout $TRAIN_SECONDS python3 -m lwb.cli train --task prosqa --preset demo \
    --size micro --device cuda --quiet --eval-every 500 --out /tmp/p/$name "$@" \
    > /tmp/p/$name.log 2>&1
  echo "$name rc=$? $(tail -c 300 /tmp/p/$name.log | tr '\n' ' ')"
}
run cot --method cot --epochs 16 &
run nocot --method nocot --epochs 16 &
run pause --method pause --epochs 16 &
run rim --method rim --epochs 12 &
run coconut --method coconut --epochs 12 --epochs-per-stage 2 &
run cot-40k-mini --method cot --size mini --train-data /tmp/p40k.jsonl --epochs 3 &
wait
cd /tmp/p && find . -name optimizer.pt -delete
for r in */; do [ -f "$r/model.safetensors" ] && rm -rf "$r/checkpoints"; done
tar czf "$OUT/prosqa_a.tgz" cot nocot pause *.log
tar czf "$OUT/prosqa_b.tgz" rim coconut
tar czf "$OUT/prosqa_c.tgz" cot-40k-mini
ls -la "$OUT"
