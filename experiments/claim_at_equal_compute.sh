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
#   [ROOT=work/claim_root] bash experiments/claim_at_equal_compute.sh [STEPS] [OUT] [MIXES]
set -euo pipefail
ROOT=${ROOT:-.}
STEPS=${1:-500}
OUT=${2:-work/generator_study/claim.jsonl}
MIXES=${3:-original_only paper oracle}
mkdir -p work/generator_study
for mix in $MIXES; do
  python experiments/generator_study.py --root "$ROOT" --mix "$mix" --profile paper --unet tiny --objective v_zero_snr \
    --max-steps "$STEPS" --minutes 6000 --eval-prompts 8 --constant-lr --threads 1 --tag "claim_$mix" --out "$OUT" \
    >> "work/generator_study/claim_$mix.log" 2>&1 &  # appended: one log per chain
done
wait
