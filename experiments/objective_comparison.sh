#!/usr/bin/env bash
# The objective comparison (docs/results.md "The objective"): the `tiny` U-Net trained on the
# `oracle` mix (perfect captions, so only the objective differs) for the same number of steps
# with each objective, two processes at a time with one thread each, judged on the same
# 8 prompts per category in both forms.
#
#   bash experiments/objective_comparison.sh [STEPS] [OUT]     (default 500, work/generator_study/objectives.jsonl)
set -euo pipefail
STEPS=${1:-500}
OUT=${2:-work/generator_study/objectives.jsonl}
run() {
  python experiments/generator_study.py --root . --mix oracle --profile paper --unet tiny --objective "$1" \
    --max-steps "$STEPS" --minutes 600 --eval-prompts 8 --threads 1 --tag "objective_$1" --out "$OUT" \
    > "work/generator_study/objective_$1.log" 2>&1
}
mkdir -p work/generator_study
run epsilon &  # builds the mix's cache first; the others wait for it
until grep -q "rows cached" work/generator_study/objective_epsilon.log 2>/dev/null; do sleep 5; done
run v_zero_snr
wait
run epsilon_min_snr &
run v_zero_snr_min_snr
wait
