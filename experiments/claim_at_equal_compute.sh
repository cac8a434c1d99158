#!/usr/bin/env bash
# The claim at equal compute (docs/results.md "The claim"): the `tiny` U-Net with the default
# objective trained for the same steps on alt text only (`original_only`), on the quick
# captioner's filtered captions blended 95/5 (`paper`) and on perfect captions blended 95/5
# (`oracle`, the best captions this machine has: no paper captioner run exists here), judged on
# the same prompts. Constant rate and kept checkpoints: run again with a larger STEPS to extend
# the curve (a chain of segments). ROOT names the materialized project the inputs are read from
# (data/mix, data/web_shards, models/vae; default: this one): a copy of them frozen for the
# chain keeps its captions and latents fixed while the project's main job moves on (a rerun
# that changes a mix or the VAE changes the cache's fingerprint, and a continued segment
# would learn from other data than the steps before it).
#
# The three train side by side with one thread each (the default); PARALLEL=0 trains them one
# after another with every core instead, which on the 2-core Xeon was slower: 40.5 steps per
# minute alone against 3 x 20 side by side (docs/results.md "the fourth point"). Either way each
# generator gets the same steps, so the comparison is at equal compute. EVAL_EVERY: wall-clock
# minutes between judged points (default the recipe's, 15).
#
#   [ROOT=work/claim_root] [PARALLEL=0] [EVAL_EVERY=5] bash experiments/claim_at_equal_compute.sh [STEPS] [OUT] [MIXES]
set -euo pipefail
ROOT=${ROOT:-.}
STEPS=${1:-500}
OUT=${2:-work/generator_study/claim.jsonl}
MIXES=${3:-original_only paper oracle}
PARALLEL=${PARALLEL:-1}
THREADS=$([ "$PARALLEL" = 1 ] && echo 1 || nproc)
mkdir -p work/generator_study
train() {
  python experiments/generator_study.py --root "$ROOT" --mix "$1" --profile paper --unet tiny --objective v_zero_snr \
    --max-steps "$STEPS" --minutes 6000 --eval-prompts 8 ${EVAL_EVERY:+--eval-every "$EVAL_EVERY"} --constant-lr \
    --threads "$THREADS" --tag "claim_$1" --out "$OUT" >> "work/generator_study/claim_$1.log" 2>&1  # appended: one log per chain
}
for mix in $MIXES; do
  if [ "$PARALLEL" = 1 ]; then train "$mix" & else train "$mix" || echo "claim_$mix failed: see its log" >&2; fi
done
wait
