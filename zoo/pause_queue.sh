#!/bin/bash
# pause: phase 3 (padded chains) from phase 2, then trees from phase 3 (resumable: rerun this script)
cd /work/main
C="--method pause --pauses 7 --size micro-h1 --batch-size 32 --lr 6e-4 --fresh --threads 1 --eval-every 500 --eval-examples 200 --checkpoint-every 500 --quiet"
run() { out=$1; shift; [ -f runs/recipe/$out/metrics.json ] && return; extra=""; [ -f runs/recipe/$out/config.json ] && extra="--resume"; .venv/bin/lwb train $C "$@" --out runs/recipe/$out $extra >> runs/recipe/$out.out 2>&1; }
while [ ! -f runs/recipe/pause-demo-h1-cont/metrics.json ]; do sleep 30; done
run pause-padded --task reach --preset padded --steps 4000 --init-from runs/recipe/pause-demo-h1-cont
run pause-trees --task reach --preset trees --steps 3000 --init-from runs/recipe/pause-padded
