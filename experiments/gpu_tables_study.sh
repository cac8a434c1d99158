#!/usr/bin/env bash
# The paper's three tables on one lent GPU, in one call of under 10 minutes: every row of every
# table (experiments/paper_tables.py) trained side by side as parallel processes on the GPU for
# the same minutes (or the same STEPS, where set), then each table evaluated against its alt-text
# row with the benchmark the eval_scores asset uses, beside the paper's numbers.
#
#   bash experiments/gpu_tables_study.sh OUT_DIR [MINUTES]
#
# Needs a materialized project at $ROOT (default .): data/mix/<mix>.parquet for the tables' rows,
# data/web_shards/, models/vae/ and models/alignment/ (carry them to the GPU machine). A row whose
# mix is missing is skipped and reported missing (the captioner table's mixes come from
# experiments/captioner_quality_mixes.py). Writes OUT_DIR/table_<TABLE>.md and .json (the tables),
# OUT_DIR/chain_<TABLE>.txt and .json (where each row's training stands: steps, minutes, last
# judged point), OUT_DIR/report_<TABLE>.txt (the evaluation report), the device, the GPU's use
# every 20 s and the logs. A hard LIMIT stops whatever still runs, so the records come back.
# Each row trains with its own process (--parallel: every row of a table at once), so the rows
# of a table share the GPU alike; equal compute is exact with STEPS (each row stops there), and
# table_<TABLE>.md says so where the rows' steps differ.
# Tested on a CPU with a tiny budget (tests/experiments/test_gpu_tables_script.py):
#   ACCELERATOR=cpu UNET=tiny PRECISION=32-true STEPS=1 EVAL_PROMPTS=1 PER_CATEGORY=1 REAL=2 TABLES=mix ...
set -uo pipefail
OUT=${1:?usage: gpu_tables_study.sh OUT_DIR [MINUTES]}
MINUTES=${2:-4}
ROOT=${ROOT:-.}
LIMIT=${LIMIT:-560}  # seconds: a process still running then is stopped, so the records still come back
WORK=${WORK:-/tmp/recap_tables_study}
TABLES=${TABLES:-mix length captioner}
ACCELERATOR=${ACCELERATOR:-gpu} UNET=${UNET:-small} PRECISION=${PRECISION:-bf16-mixed} BATCH=${BATCH:-128}
STEPS=${STEPS:-1000000} EVAL_EVERY=${EVAL_EVERY:-2} EVAL_PROMPTS=${EVAL_PROMPTS:-8}
PER_CATEGORY=${PER_CATEGORY:-8} REAL=${REAL:-256} SETTINGS=${SETTINGS:-}  # SETTINGS: "KEY=VALUE ..." recipe overrides
EVAL_THREADS=${EVAL_THREADS:-2}  # torch threads of the evaluation (the test, on 2 cores beside another test: 1)
mkdir -p "$OUT" "$WORK/logs"
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
(nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv || echo "no GPU: $ACCELERATOR") > "$OUT/device.txt" 2>&1
nvidia-smi --query-gpu=timestamp,utilization.gpu,memory.used --format=csv -l 20 > "$OUT/gpu_util.csv" 2>/dev/null &
monitor=$!
start=$(date +%s)
left() { local s=$(( LIMIT - ($(date +%s) - start) )); echo $(( s > 1 ? s : 1 )); }  # `timeout 0` would never stop
sets=()
for setting in $SETTINGS; do sets+=(--set "$setting"); done
pids=()
for table in $TABLES; do  # a work folder per table: tables side by side would build one mix's cache at once
  timeout "$(left)" python3 experiments/paper_tables.py train "$table" --root "$ROOT" --work "$WORK/$table" \
    --steps "$STEPS" --segment-minutes "$MINUTES" --parallel 8 --threads 1 --allow-missing \
    --unet "$UNET" --batch "$BATCH" --precision "$PRECISION" --accelerator "$ACCELERATOR" \
    --eval-every "$EVAL_EVERY" --eval-prompts "$EVAL_PROMPTS" "${sets[@]}" > "$WORK/logs/train_$table.log" 2>&1 &
  pids+=($!)
done
wait "${pids[@]}"
echo "trained in $(( $(date +%s) - start )) s" >> "$OUT/device.txt"
kill "$monitor" 2>/dev/null
# Every table evaluated side by side in what time is left, each row on the same prompts and seeds.
pids=()
for table in $TABLES; do
  python3 experiments/paper_tables.py status "$table" --work "$WORK/$table" > "$OUT/chain_$table.txt" 2>&1
  cp "$WORK/$table/table_$table/chain.json" "$OUT/chain_$table.json" 2>/dev/null
  rm -rf "$WORK/eval_$table"
  timeout "$(left)" python3 experiments/paper_tables.py evaluate "$table" --root "$ROOT" --work "$WORK/$table" \
    --out "$WORK/eval_$table" --per-category "$PER_CATEGORY" --real "$REAL" --threads "$EVAL_THREADS" --allow-missing \
    > "$WORK/logs/evaluate_$table.log" 2>&1 &
  pids+=($!)
done
wait "${pids[@]}"
for table in $TABLES; do
  cp "$WORK/eval_$table/table.md" "$OUT/table_$table.md" 2>/dev/null || echo "table $table: not evaluated, see logs.txt" >> "$OUT/device.txt"
  cp "$WORK/eval_$table/table.json" "$OUT/table_$table.json" 2>/dev/null
  cp "$WORK/eval_$table/report.txt" "$OUT/report_$table.txt" 2>/dev/null
done
echo "done in $(( $(date +%s) - start )) s" >> "$OUT/device.txt"
for log in "$WORK"/logs/*.log "$WORK"/*/table_*/logs/*.log; do [ -f "$log" ] && { echo "== $log"; tail -n 20 "$log"; }; done > "$OUT/logs.txt"
cat "$OUT"/chain_*.txt
