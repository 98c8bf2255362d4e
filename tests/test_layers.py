"""The architecture: core/ reads bottom to top and import-linter (.importlinter) checks every arrow."""

import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LAYERS = ["search", "runner", "training", "views", "diagnostics", "data", "plan", "config", "rundir", "common"]


def lint_imports(cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(Path(sys.executable).parent / "lint-imports"), "--no-cache"], cwd=cwd,
                          capture_output=True, text=True, timeout=300)


def test_every_layer_is_a_folder_of_core():
    folders = sorted(p.name for p in (ROOT / "core").iterdir() if p.is_dir() and not p.name.startswith("_"))
    assert folders == sorted(LAYERS)
    entry_points = sorted(p.stem for p in (ROOT / "core").glob("*.py") if p.stem != "__init__")
    assert entry_points == ["diagnose", "predict", "queue", "runs", "sweep", "train"]


def test_the_layering_contracts_hold():
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "3 kept, 0 broken" in result.stdout


def test_an_import_pointing_up_breaks_the_contract(tmp_path):
    for name in ("core", "pages"):
        shutil.copytree(ROOT / name, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / ".importlinter", tmp_path / ".importlinter")
    errors = tmp_path / "core" / "common" / "errors.py"
    errors.write_text(errors.read_text() + "\n\ndef _up():\n    from core.runner import launcher  # wrong arrow\n")
    result = lint_imports(tmp_path)
    assert result.returncode != 0
    assert "core.common.errors -> core.runner.launcher" in result.stdout


def test_function_local_imports_of_our_modules_only_keep_heavy_libraries_off_start_up():
    local = re.compile(r"^\s+from core\.\S+ import")
    for path in (ROOT / "core").rglob("*.py"):
        lines = path.read_text().splitlines()
        for i, line in enumerate(lines):
            if local.match(line):
                j = i - 1
                while j >= 0 and local.match(lines[j]):  # a block of local imports shares one comment
                    j -= 1
                assert lines[j].strip().startswith("# heavy"), f"{path.relative_to(ROOT)}:{i + 1} {line.strip()}"


def test_run_folder_file_names_live_in_one_place():
    names = re.compile(r'"(status\.json|dataset\.json|results\.json|estimate\.json|metrics\.jsonl|train\.log|'
                       r'stop_requested|resources\.jsonl|meta\.json|profile\.txt)"')
    for path in [*(ROOT / "core").rglob("*.py"), *(ROOT / "pages").rglob("*.py")]:
        if path.name == "layout.py":
            continue
        found = names.findall(path.read_text())
        assert not found, f"{path.relative_to(ROOT)} names {found}: use core.rundir.layout.RunDir"
