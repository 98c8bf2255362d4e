"""Why is the fast preset slow on a GPU? Variants of it side by side through the app's own training child,
each with a torch.profiler window before the measured window, the number of torch.compile recompiles, and a
plain PyTorch loop on the same model as the ceiling the app can approach.

  python bench/gpu_diagnose.py [--out DIR] [--only NAME...] [--ceiling-only | --no-ceiling]

Prints one Markdown table; with --out, the profiles and logs are copied there.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import throughput  # noqa: E402

FILTER_ON = {"logging_nan_inf_filter": True}


def variants() -> list[tuple[str, dict, dict, bool, str]]:
    """(name, config, environment, imdb_like, profile window) in the order of what they tell."""
    tweets, imdb = throughput.TWEETS, throughput.IMDB
    cfg = throughput.gpu_config
    no_graphs = {"torch_compile_mode": "default"}
    no_cudnn = {"DASHBOARD_CUDNN_ATTENTION": "0", "TORCHINDUCTOR_CACHE_DIR": "/tmp/inductor-no-cudnn"}
    with_eval = {"eval_strategy": "steps", "eval_steps": 100, "save_strategy": "steps", "save_steps": 100,
                 "load_best_model_at_end": True, "save_total_limit": 1}
    return [
        ("tw-fast", cfg(tweets, 300), {}, False, "40:5"),
        ("im-fast", cfg(imdb, 150), {}, True, "20:5"),
        ("tw-fast-eval-save", cfg({**tweets, "eval_size": 2000}, 300, **with_eval), {}, False, "40:5"),
        ("im-compile-no-graphs", cfg(imdb, 150, **no_graphs), {}, True, "20:5"),
        ("tw-compile-no-graphs", cfg(tweets, 300, **no_graphs), {}, False, "40:5"),
        ("im-fast-no-cudnn", cfg(imdb, 150), no_cudnn, True, "20:5"),
        ("tw-eager", cfg(tweets, 300, {"compile": "off"}), {}, False, "40:5"),
        ("im-eager", cfg(imdb, 150, {"compile": "off"}), {}, True, "20:5"),
    ]


def recompiles(log: Path) -> int:
    return log.read_text(errors="replace").count("Recompiling function") if log.exists() else -1


def ceiling(lengths=(64, 320), batch: int = 64, steps: int = 30) -> list[str]:
    """A bare training loop: BERT-base (random), bf16 autocast, SDPA, fused AdamW, fixed-length batches."""
    import torch
    from transformers import BertConfig, BertForSequenceClassification

    rows = []
    for compiled in (False, True):
        torch.manual_seed(0)
        config = BertConfig(num_labels=3, problem_type="single_label_classification")
        config._attn_implementation = "sdpa"
        model = BertForSequenceClassification(config).cuda()
        optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4, fused=True)
        forward = torch.compile(model, dynamic=True) if compiled else model
        for length in lengths:
            ids = torch.randint(1000, 30000, (batch, length), device="cuda")
            mask = torch.ones_like(ids)
            labels = torch.randint(0, 3, (batch,), device="cuda")
            started = time.perf_counter()

            def step():
                with torch.autocast("cuda", dtype=torch.bfloat16):
                    loss = forward(input_ids=ids, attention_mask=mask, labels=labels).loss
                loss.backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                optimizer.step()
                optimizer.zero_grad(set_to_none=True)

            for _ in range(3):
                step()
            torch.cuda.synchronize()
            warm = time.perf_counter() - started
            begin, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            begin.record()
            for _ in range(steps):
                step()
            end.record()
            torch.cuda.synchronize()
            ms = begin.elapsed_time(end) / steps
            flops = batch * length * (6 * 85e6 + 12 * 12 * 768 * length)
            rows.append(f"| bare loop, {'compiled (dynamic)' if compiled else 'eager'} | {length} | {ms:.1f} | "
                        f"{batch / ms * 1e3:.0f} | {flops / ms / 1e9 / 989:.1f}% | {warm:.0f} |")
            print(rows[-1], flush=True)
        torch.cuda.empty_cache()
    return ["| loop | length | ms/step | samples/s | MFU | warm-up s |", "| --- | --- | --- | --- | --- | --- |", *rows]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", type=Path)
    parser.add_argument("--only", nargs="*", default=[])
    parser.add_argument("--ceiling-only", action="store_true")
    parser.add_argument("--no-ceiling", action="store_true")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="bench-gpu-diagnose-"))
    lines: list[str] = []

    def save() -> None:
        if args.out:
            args.out.mkdir(parents=True, exist_ok=True)
            (args.out / "diagnose.md").write_text("\n".join(lines) + "\n")
            if (workdir / "kept").exists():  # one archive: the device tool brings back a few files only
                shutil.make_archive(str(args.out / "profiles"), "gztar", workdir / "kept")

    if not args.ceiling_only:
        lines += ["| variant | samples/s | real tokens/s | MFU | first step (s) | wall (s) | recompiles | profile |",
                  "| --- | --- | --- | --- | --- | --- | --- | --- |"]
        for name, config, env, imdb_like, window in variants():
            if args.only and name not in args.only:
                continue
            env = {**env, "TORCH_LOGS": "recompiles", "DASHBOARD_PROFILE": window}
            result = throughput.run_config(name, config, workdir, env, imdb_like=imdb_like)
            profile = workdir / name / "profile.txt"
            summary = profile.read_text().splitlines()[0] if profile.exists() else "no profile"
            keep = workdir / "kept"
            keep.mkdir(exist_ok=True)
            for source, target in ((profile, f"{name}.profile.txt"), (workdir / f"{name}.log", f"{name}.log")):
                if source.exists():
                    shutil.copy(source, keep / target)
            if result.get("failed"):
                lines.append(f"| {name} | failed | | | | | {recompiles(workdir / f'{name}.log')} | |")
            else:
                perf = result["performance"]
                lines.append(f"| {name} | {perf.get('samples_per_second', 0):.0f} | "
                             f"{perf.get('tokens_per_second', 0):.0f} | {throughput.mfu(result) * 100:.1f}% | "
                             f"{result['first_step_s'] or 0:.0f} | {result['wall_s']:.0f} | "
                             f"{recompiles(workdir / f'{name}.log')} | {summary} |")
            print(lines[-1], flush=True)
            save()
    if not args.no_ceiling:
        lines += [""] + ceiling()
    print("\n".join(lines))
    save()
    if args.out:
        (args.out / "environment.json").write_text(json.dumps({"machine": throughput.machine()}))


if __name__ == "__main__":
    main()
