#!/bin/bash
# iCoT and CODI on padded chains, from the zoo's CoT, with Coconut's and RiM's budget (6000 steps,
# lr 6e-4). `zoo/latent_queue.sh icot` starts once pause-trees is done, `zoo/latent_queue.sh codi`
# once rim-trees is done (one training per core); both resumable: rerun after a kill.
cd /work/main
C="--task reach --preset padded --size micro-h1 --steps 6000 --batch-size 32 --lr 6e-4 --fresh --threads 1 --eval-every 500 --eval-examples 200 --checkpoint-every 500 --quiet --init-from runs/recipe/cot-padded-ft"
run() { out=$1; shift; [ -f runs/recipe/$out/metrics.json ] && return; extra=""; [ -f runs/recipe/$out/config.json ] && extra="--resume"; .venv/bin/lwb train $C "$@" --out runs/recipe/$out $extra >> runs/recipe/$out.out 2>&1; }
case "$1" in
  icot) while [ ! -f runs/recipe/pause-trees/metrics.json ]; do sleep 30; done
        run icot-padded --method icot --remove-per-stage 2 --epochs-per-stage 4 ;;
  codi) while [ ! -f runs/recipe/rim-trees/metrics.json ]; do sleep 30; done
        run codi-padded --method codi --thoughts 7 --no-drop-last-step ;;
  *) echo "usage: zoo/latent_queue.sh icot|codi" >&2; exit 2 ;;
esac
