"""The README's promises that code can check: its commands exist and its config table is current."""

from core.config.reference import markdown_table
from tests.conftest import ROOT

README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_first_lines_give_the_two_commands_and_they_exist():
    head = "\n".join(README.splitlines()[:12])
    assert "bash scripts/start.sh" in head and "bash scripts/test.sh" in head
    assert (ROOT / "scripts" / "start.sh").exists() and (ROOT / "scripts" / "test.sh").exists()


def test_ci_runs_the_readme_test_command():
    assert "bash scripts/test.sh" in (ROOT / ".ci" / "run").read_text()


def test_config_table_matches_the_dataclasses():
    assert markdown_table() in README, "README config table is stale: paste `python -m core.config.reference` into it"
