#!/usr/bin/env bash
# The captioner study on one lent GPU: the paper scale's pretraining ablation (CoCa or
# captioning-only pretraining on the paper profile's 50,000 web images, or none, then
# fine-tuning on 5,000 curated), as parallel processes that share the GPU, the shards and
# the pretrained models. (The paper recipe itself trains from scratch: the 5000:scratch run.)
#
#   bash experiments/gpu_captioner_study.sh OUT_DIR [PRETRAIN_MINUTES] [FINETUNE_MINUTES]
#
# Runs (curated size:init): 5000:coca, 5000:caption_only, 5000:scratch (the paper recipe),
# 800:coca (waits for the CoCa pretraining), 800:scratch. Each stage stops at the recipe's
# steps or its minutes cap, whichever comes first; the records (experiments/captioner_study.py's
# JSON lines, one file for all) say how many steps each reached. Summarise with
# python experiments/summarize_captioner_study.py OUT_DIR/study.jsonl. GPU use every 20 s
# goes to OUT_DIR/gpu_util.csv, the processes' last log lines to OUT_DIR/logs.txt.
set -uo pipefail
OUT=${1:?usage: gpu_captioner_study.sh OUT_DIR [PRETRAIN_MINUTES] [FINETUNE_MINUTES]}
PRE=${2:-2.5}
FT=${3:-3}
LIMIT=${LIMIT:-520}  # seconds: a process still running then is stopped, so the logs still come back
WORK=${WORK:-/tmp/recap_gpu_study}
# A dry run on a CPU at small scale: ACCELERATOR=cpu WORKERS=0 FINAL_EVAL=16 EVAL_IMAGES=8
ACCELERATOR=${ACCELERATOR:-gpu} WORKERS=${WORKERS:-2} FINAL_EVAL=${FINAL_EVAL:-500} EVAL_IMAGES=${EVAL_IMAGES:-100}
mkdir -p "$OUT" "$WORK/logs"
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 OMP_NUM_THREADS=1 PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
common=(--profile paper --work "$WORK" --data "$WORK/data" --out "$OUT/study.jsonl" --heldout 500
        --accelerator "$ACCELERATOR" --workers "$WORKERS" --threads 1 --checkpoint-every 1000 --eval-every 1
        --eval-images "$EVAL_IMAGES" --final-eval-images "$FINAL_EVAL" --pretrain-minutes "$PRE" --finetune-minutes "$FT")
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv > "$OUT/device.txt" 2>&1
nvidia-smi --query-gpu=timestamp,utilization.gpu,memory.used --format=csv -l 20 > "$OUT/gpu_util.csv" 2>/dev/null &
monitor=$!
start=$(date +%s)
python3 experiments/captioner_study.py "${common[@]}" --runs 5000:coca 800:scratch \
  --build-only --build-jobs 15 > "$WORK/logs/build.log" 2>&1 || { cat "$WORK/logs/build.log"; exit 1; }
echo "data built in $(( $(date +%s) - start )) s" | tee -a "$OUT/device.txt"
study() {  # tag, then run arguments
  local tag=$1; shift
  timeout $(( LIMIT - ($(date +%s) - start) )) \
    python3 experiments/captioner_study.py "${common[@]}" --tag "$tag" "$@" > "$WORK/logs/$tag.log" 2>&1
  echo "$tag exited $? after $(( $(date +%s) - start )) s" | tee -a "$OUT/device.txt"
}
# Fine-tuning alone gets both stages' minutes, so every process ends at about the same time.
BOTH=$(python3 -c "print($PRE + $FT)")
pids=()
study paper_coca --runs 5000:coca & pids+=($!)
study paper_caption_only --runs 5000:caption_only & pids+=($!)
study paper_scratch --runs 5000:scratch --finetune-minutes "$BOTH" & pids+=($!)
study quick_size_coca --runs 800:coca --wait-pretrained 8 & pids+=($!)
study quick_size_scratch --runs 800:scratch --finetune-minutes "$BOTH" & pids+=($!)
wait "${pids[@]}"  # not the GPU monitor, which runs until killed
for log in "$WORK"/logs/*.log; do echo "== $log"; grep -v "^{" "$log" | tail -n 25; done > "$OUT/logs.txt"
kill "$monitor" 2>/dev/null
# The paper captioner comes back in parts under 16 MiB: cat captioner_paper.tar.part-* | tar x
tar -C "$WORK/paper_coca" -cf - model_5000_coca | split -b 15M - "$OUT/captioner_paper.tar.part-"
