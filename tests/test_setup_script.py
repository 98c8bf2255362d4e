"""scripts/setup.sh (run by scripts/start.sh) says what it does while installing, with a stand-in Python."""

import os
import stat
import subprocess

from tests.conftest import ROOT

FAKE_PYTHON = """#!/usr/bin/env bash
# Stands in for python3 and the venv's python: makes a venv, and plays pip from $PIP_EXIT.
echo "$@" >> "$CALLS"
if [ "$1 $2" = "-m venv" ]; then mkdir -p "$3/bin"; cp "$0" "$3/bin/python"; exit 0; fi
if [ "$*" = "-m pip install -r requirements.txt" ]; then
  printf 'Collecting torch==2.13.0\\nRequirement already satisfied: six\\nSuccessfully installed torch-2.13.0\\n'
  [ "${PIP_EXIT:-0}" = 0 ] || echo "ERROR: No matching distribution found for torch" >&2
  exit "${PIP_EXIT:-0}"
fi
"""


def run_setup(tmp_path, **env):
    fake = tmp_path / "python3"
    fake.write_text(FAKE_PYTHON)
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    return subprocess.run(["bash", str(ROOT / "scripts" / "setup.sh")], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "PYTHON": str(fake), "VENV": str(tmp_path / "venv"),
                               "CALLS": str(tmp_path / "calls.log"), **env})


def test_the_first_start_says_what_it_installs_package_by_package(tmp_path):
    first = run_setup(tmp_path)
    assert first.returncode == 0, first.stderr
    lines = first.stdout.splitlines()
    assert lines[0].startswith("First start: creating the Python environment")
    assert lines[1].startswith("Installing the pinned packages from requirements.txt")
    assert "Collecting torch==2.13.0" in lines and "Successfully installed torch-2.13.0" in lines
    assert "Requirement already satisfied: six" not in first.stdout  # noise, not progress
    assert lines[-1] == "Packages installed."


def test_a_later_start_skips_pip_when_nothing_changed(tmp_path):
    run_setup(tmp_path)
    calls_before = (tmp_path / "calls.log").read_text().count("pip install -r")
    again = run_setup(tmp_path)
    assert again.returncode == 0 and again.stdout.strip() == "Packages are installed and up to date."
    assert (tmp_path / "calls.log").read_text().count("pip install -r") == calls_before


def test_a_failed_install_stops_the_start_with_pips_error(tmp_path):
    failed = run_setup(tmp_path, PIP_EXIT="1")
    assert failed.returncode != 0
    assert "No matching distribution found for torch" in failed.stderr
    assert "Packages installed." not in failed.stdout
    assert run_setup(tmp_path, PIP_EXIT="0").stdout.count("Installing the pinned packages") == 1  # tried again
