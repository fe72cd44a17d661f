#!/bin/bash
# trees: each method fine-tuned from its padded-chains model (CoT for the latent ones), 3000 steps
cd /work/main
C="--task reach --preset trees --size micro-h1 --steps 3000 --batch-size 32 --lr 6e-4 --fresh --threads 1 --eval-every 500 --eval-examples 200 --checkpoint-every 500 --quiet"
run() { out=$1; shift; [ -f runs/recipe/$out/metrics.json ] && return; extra=""; [ -f runs/recipe/$out/config.json ] && extra="--resume"; .venv/bin/lwb train $C "$@" --out runs/recipe/$out $extra >> runs/recipe/$out.out 2>&1; }
run cot-trees --method cot --init-from runs/recipe/cot-padded-ft
run nocot-trees --method nocot --init-from runs/recipe/nocot-padded
run coconut-trees --method coconut --epochs-per-stage 4 --init-from runs/recipe/cot-trees
run rim-trees --method rim --blocks 5 --init-from runs/recipe/cot-trees
