#!/usr/bin/env bash
# Smoke test of the training child on a CUDA machine (the `device` tool's H100), through the CLI:
# device auto must pick CUDA, bf16 must be accepted there, memory must be read from CUDA, and a run
# forced to cpu must log the DEVICE_NOT_USED pre-flight warning. The built-in MiniLM weights (88 MB) are
# too large to carry there, so it trains tiny-random with MiniLM's tokenizer.
# Usage (from the repo root, with datasets and the data packages importable): bash bench/gpu_smoke/run.sh OUTDIR
set -uo pipefail
out="${1:?usage: run.sh OUTDIR}"
python3 -c "import torch, transformers; print('torch', torch.__version__, 'transformers', transformers.__version__, \
'cuda', torch.cuda.is_available(), torch.cuda.get_device_name() if torch.cuda.is_available() else '')"

python3 -m core.train --config bench/gpu_smoke/auto.json --run-dir "$out/auto" > "$out/auto.log" 2>&1
echo "auto: exit $?"
python3 -m core.train --config bench/gpu_smoke/cpu_on_gpu_box.json --run-dir "$out/cpu" > "$out/cpu.log" 2>&1
echo "cpu: exit $?"
python3 - "$out" <<'PY'
import json, sys
out = sys.argv[1]
status = json.load(open(f"{out}/auto/status.json"))
lines = [json.loads(l) for l in open(f"{out}/auto/metrics.jsonl")]
train = [l for l in lines if l["type"] == "train"]
summary = [l for l in lines if l["type"] == "summary"][0]
results = json.load(open(f"{out}/auto/results.json"))
print("auto state", status["state"], "device", status["device"], "steps", status["progress"]["step"])
print("train samples/s", round(summary["train_samples_per_second"], 1), "memory_mb (CUDA peak)", train[-1]["memory_mb"])
print("final accuracy", round(results["final_metrics"]["accuracy"], 3))
cpu = json.load(open(f"{out}/cpu/status.json"))
print("cpu state", cpu["state"], "device", cpu["device"], "preflight", [f["code"] for f in cpu.get("preflight", [])])
PY
grep -h "Pre-flight" "$out/cpu.log" | head -2
tail -3 "$out/auto.log"
