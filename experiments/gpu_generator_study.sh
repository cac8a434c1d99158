#!/usr/bin/env bash
# The generator study on one lent GPU: the claim's generators (alt text only, the quick
# captioner's 95/5, perfect captions' 95/5) trained side by side as parallel processes for the
# same minutes, each judged on the same prompts, plus the model FLOPs utilisation of the `base`
# U-Net in bf16. Ready to run in one call of under 10 minutes.
#
#   bash experiments/gpu_generator_study.sh OUT_DIR [MINUTES]
#
# Needs a materialized project at $ROOT (default .): data/mix/<mix>.parquet, data/web_shards/,
# models/vae/ (carry them to the GPU machine: 17 MB for `quick`). Writes OUT_DIR/study.jsonl
# (experiments/generator_study.py's records: the curve every $EVAL_EVERY minutes and the final
# judgement), OUT_DIR/mfu.txt, OUT_DIR/judged.md and judged.jsonl (the exported generators on a
# wider held-out suite, paired against the first mix), the final sample grids, the GPU's use
# every 20 s and the logs.
# Tested on a CPU with a tiny budget (tests/generator/test_gpu_study_script.py):
#   ACCELERATOR=cpu UNET=tiny PRECISION=32-true MAX_STEPS=2 EVAL_PROMPTS=1 JUDGE_PROMPTS=1 MIXES=original_only ...
set -uo pipefail
OUT=${1:?usage: gpu_generator_study.sh OUT_DIR [MINUTES]}
MINUTES=${2:-6}
ROOT=${ROOT:-.}
LIMIT=${LIMIT:-540}  # seconds: a process still running then is stopped, so the records still come back
WORK=${WORK:-/tmp/recap_generator_study}
ACCELERATOR=${ACCELERATOR:-gpu} UNET=${UNET:-base} PRECISION=${PRECISION:-bf16-mixed} BATCH=${BATCH:-128}
MAX_STEPS=${MAX_STEPS:-1000000} EVAL_EVERY=${EVAL_EVERY:-2} EVAL_PROMPTS=${EVAL_PROMPTS:-24} JUDGE_PROMPTS=${JUDGE_PROMPTS:-64}
MIXES=${MIXES:-original_only paper oracle}
THREADS=${THREADS:-2}  # torch threads per process (the test, on 2 cores beside another test: 1)
mkdir -p "$OUT" "$WORK/logs"
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
(nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv || echo "no GPU: $ACCELERATOR") > "$OUT/device.txt" 2>&1
nvidia-smi --query-gpu=timestamp,utilization.gpu,memory.used --format=csv -l 20 > "$OUT/gpu_util.csv" 2>/dev/null &
monitor=$!
start=$(date +%s)
pids=()
for mix in $MIXES; do
  timeout $(( LIMIT - ($(date +%s) - start) )) python3 experiments/generator_study.py --root "$ROOT" --mix "$mix" \
    --profile paper --unet "$UNET" --batch "$BATCH" --precision "$PRECISION" --accelerator "$ACCELERATOR" \
    --minutes "$MINUTES" --max-steps "$MAX_STEPS" --eval-every "$EVAL_EVERY" --eval-prompts "$EVAL_PROMPTS" \
    --constant-lr --threads "$THREADS" --tag "gpu_$mix" --work "$WORK" --out "$OUT/study.jsonl" > "$WORK/logs/$mix.log" 2>&1 &
  pids+=($!)
done
wait "${pids[@]}"
echo "trained in $(( $(date +%s) - start )) s" >> "$OUT/device.txt"
kill "$monitor" 2>/dev/null
# MFU: the U-Net's FLOPs per sample times the samples per second all processes reached together,
# each process's rate from its last judged point (training minutes only, not the judging's).
rate=$(python3 - "$OUT/study.jsonl" "$BATCH" <<'PY'
import json, sys
records = [json.loads(line) for line in open(sys.argv[1])]
rate = 0.0
for tag in {r["tag"] for r in records}:
    points = [r for r in records if r["tag"] == tag and r["kind"] == "point" and r["minutes"] > 0]
    final = [r for r in records if r["tag"] == tag and r["kind"] == "final"][-1]
    if points:
        rate += points[-1]["step"] * int(sys.argv[2]) / (points[-1]["minutes"] * 60)
    elif final["minutes"] > 0:
        rate += final["examples"] / (final["minutes"] * 60)
print(rate)
PY
)
python3 experiments/generator_flops.py --unet "$UNET" --samples-per-second "$rate" > "$OUT/mfu.txt" 2>&1
for mix in $MIXES; do cp "$WORK/gpu_$mix/final_samples.png" "$OUT/samples_$mix.png" 2>/dev/null; done
# The exported generators on one wider held-out suite, paired against the first mix (alt text):
# each figure's interval and McNemar's p-value (experiments/judge_generators.py), in what time is left.
pipelines=()
for mix in $MIXES; do [ -f "$WORK/gpu_$mix/pipeline/model_index.json" ] && pipelines+=("$mix=$WORK/gpu_$mix/pipeline"); done
left=$(( LIMIT + 40 - ($(date +%s) - start) ))
if [ ${#pipelines[@]} -gt 0 ] && [ $left -gt 10 ]; then
  timeout $left python3 experiments/judge_generators.py "${pipelines[@]}" --prompts "$JUDGE_PROMPTS" \
    --out "$OUT/judged.jsonl" > "$OUT/judged.md" 2> "$WORK/logs/judge.log" || echo "judging stopped: see logs.txt" >> "$OUT/judged.md"
fi
for log in "$WORK"/logs/*.log; do echo "== $log"; tail -n 20 "$log"; done > "$OUT/logs.txt"
cat "$OUT/mfu.txt"
