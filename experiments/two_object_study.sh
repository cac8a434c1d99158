#!/usr/bin/env bash
# The two-object study (issue 34 item 1): which change makes the `oracle` generator draw both
# named objects of a two-object prompt, as a learning curve per candidate at equal examples.
# Every candidate is the claim's generator (the `tiny` U-Net, 32x32x4 latents of the root's VAE,
# batch 32, MiniLM, caption dropout 0.1, guidance 4, v_zero_snr, constant rate after warm-up)
# with one change:
#   baseline  none; also judged at guidance 7 and 10 (no retraining: --judge-guidance)
#   small     the `small` U-Net
#   f4        16x16x4 latents: a `tiny_f4` VAE trained to keep 99% of held-out objects
#             (experiments/train_vae_to_target.py, run here when $VAE_F4 is missing)
#   batch128  4 x the batch (128) at lr 1e-3 (the square-root rule), a quarter of the steps
#   attn32    the `tiny_attn32` U-Net: attention at 32x32 too
#   encoder   the text encoder at $TEXT_ENCODER (any transformers encoder directory; skipped
#             when unset: this machine holds only MiniLM)
#   dropout   caption dropout 0.2, judged at guidance 4 and 7
# STEPS counts steps of batch 32: every candidate sees 32 x STEPS examples, in POINTS segments
# of a chain (resumed from their checkpoints, tag two_<candidate>), judged at each segment's end
# on EVAL_PROMPTS prompts per category (two/both_present: the short two-object prompts). All
# candidates reach a point before any goes on to the next, so a stopped chain still compares at
# equal examples, and a rerun skips the segments OUT already holds. Each segment records its
# measured cost (steps, minutes inside training batches, GFLOPs per sample); the figure and the
# table (experiments/plot_two_object_curves.py) are written beside OUT at the end.
#
#   [ROOT=work/claim_root] [CANDIDATES="baseline f4"] [POINTS=4] [EVAL_PROMPTS=32] [THREADS=2] \
#   [TEXT_ENCODER=/path/to/encoder] [VAE_F4=work/two_object/vae_tiny_f4] [VAE_MINUTES=90] \
#       bash experiments/two_object_study.sh [STEPS] [OUT]
set -euo pipefail
STEPS=${1:-10000}
OUT=${2:-work/two_object/curves.jsonl}
ROOT=${ROOT:-.}
WORK=${WORK:-work/two_object}
MIX=${MIX:-oracle}
POINTS=${POINTS:-4}
EVAL_PROMPTS=${EVAL_PROMPTS:-32}
THREADS=${THREADS:-$(nproc)}
CANDIDATES=${CANDIDATES:-baseline small f4 batch128 attn32 encoder dropout}
VAE_F4=${VAE_F4:-$WORK/vae_tiny_f4}
VAE_MINUTES=${VAE_MINUTES:-90}
TEXT_ENCODER=${TEXT_ENCODER:-}
PYTHON=${PYTHON:-python3}
EXTRA=${EXTRA:-}  # more generator_study.py flags for every run (the tests: --accelerator cpu --set sampling.steps=2)
BATCH=${BATCH:-32}  # the base batch; STEPS counts steps of it (the tests: 4)
mkdir -p "$WORK/logs" "$(dirname "$OUT")"
export PYTHONUNBUFFERED=1

# candidate -> its generator_study.py flags (in `flags`) and batch; false for one that cannot run
candidate() {
  batch=$BATCH
  case "$1" in
    baseline) flags=(--judge-guidance 7 10) ;;
    small) flags=(--unet small) ;;
    f4) flags=(--vae "$VAE_F4") ;;
    batch128) batch=$(( 4 * BATCH )); flags=(--lr 1e-3) ;;
    attn32) flags=(--unet tiny_attn32) ;;
    encoder) [ -n "$TEXT_ENCODER" ] || return 1; flags=(--set "text_encoder=$TEXT_ENCODER") ;;
    dropout) flags=(--set caption_dropout=0.2 --judge-guidance 7) ;;
    *) echo "unknown candidate $1" >&2; exit 2 ;;
  esac
}

# whether OUT already holds candidate $1's judgement at step $2
judged_at() {
  [ -f "$OUT" ] && "$PYTHON" - "$OUT" "$1" "$2" <<'PY'
import json, sys
rows = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]
sys.exit(0 if any(r.get("kind") == "final" and r.get("curve") == sys.argv[2] and r["steps"] == int(sys.argv[3]) for r in rows) else 1)
PY
}

if [[ " $CANDIDATES " == *" f4 "* ]] && [ ! -f "$VAE_F4/config.json" ]; then
  echo "training the tiny_f4 VAE to 99% of objects kept (at most $VAE_MINUTES minutes) into $VAE_F4"
  if ! "$PYTHON" experiments/train_vae_to_target.py --root "$ROOT" --preset tiny_f4 --target 0.99 \
    --minutes "$VAE_MINUTES" --threads "$THREADS" --out "$VAE_F4" >> "$WORK/logs/vae_tiny_f4.log" 2>&1; then
    echo "the tiny_f4 VAE missed its target (see $WORK/logs/vae_tiny_f4.log): f4 left out; rerun with more VAE_MINUTES" >&2
    rm -rf "$VAE_F4"
    CANDIDATES=${CANDIDATES//f4/}
  fi
fi
for name in $CANDIDATES; do
  candidate "$name" || echo "$name left out: set TEXT_ENCODER to a transformers encoder directory" >&2
done

failed=0
for point in $(seq 1 "$POINTS"); do
  for name in $CANDIDATES; do
    candidate "$name" || continue
    steps=$(( STEPS * BATCH * point / (POINTS * batch) ))
    if judged_at "two_$name" "$steps"; then continue; fi
    echo "$(date +%H:%M:%S) two_$name to step $steps (batch $batch)"
    # shellcheck disable=SC2086  # EXTRA is a list of flags
    "$PYTHON" experiments/generator_study.py --root "$ROOT" --mix "$MIX" --profile paper --unet tiny \
      --objective v_zero_snr --batch "$batch" --max-steps "$steps" --minutes 6000 --eval-prompts "$EVAL_PROMPTS" \
      --constant-lr --set eval_every_minutes=null --threads "$THREADS" --tag "two_$name" --work "$WORK" \
      --out "$OUT" "${flags[@]}" $EXTRA >> "$WORK/logs/$name.log" 2>&1 \
      || { echo "two_$name failed at step $steps: see $WORK/logs/$name.log" >&2; failed=1; }
  done
done
[ -f "$OUT" ] && "$PYTHON" experiments/plot_two_object_curves.py "$OUT" --figure "${OUT%.jsonl}.png" --table "${OUT%.jsonl}.md"
exit "$failed"  # 1 when any segment failed (the others ran, and what they judged is plotted)
