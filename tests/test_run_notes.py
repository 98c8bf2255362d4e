"""Notes and tags on runs (core/runner/history.py): stored in meta.json, checked, searched, listed by the CLI."""

import json
import re

import pytest

from core.common.errors import UserError
from core.rundir import runs
from core.runner import history
from tests.test_page_live_run import RESULTS, make_run, overfitting_curve
from tests.test_run_history import cli


def test_notes_and_tags_are_stored_apart_from_the_config(runs_dir):
    run_dir = make_run(runs_dir, "20260101-000000", "completed", overfitting_curve(), results=RESULTS)
    config_before = (run_dir / "config.json").read_text()
    stored = history.set_notes_and_tags(runs_dir, "20260101-000000", "  first try\nlr 1e-4  ",
                                        ["baseline", "lr  sweep", "baseline", ""])
    assert stored == {"notes": "first try\nlr 1e-4", "tags": ["baseline", "lr sweep"]}
    assert history.read_meta(run_dir) == stored
    assert (run_dir / "config.json").read_text() == config_before  # an exported or relaunched config is unchanged
    assert not list(run_dir.glob(".meta.json.*"))  # written atomically, no temporary file left
    history.rename_run(runs_dir, "20260101-000000", "baseline run")
    assert history.read_meta(run_dir)["tags"] == ["baseline", "lr sweep"]  # a rename keeps them


def test_a_run_without_meta_has_empty_notes_and_tags(runs_dir):
    run_dir = make_run(runs_dir, "20260101-000000", "completed")
    assert history.read_meta(run_dir) == {"notes": "", "tags": []}
    (run_dir / "meta.json").write_text('["not", "an object"]')
    assert history.read_meta(run_dir) == {"notes": "", "tags": []}


@pytest.mark.parametrize("tags, words", [(["ok", "a<b>"], "tags: 'a<b>' is not a tag"),
                                         (["-leading-dash"], "tags: '-leading-dash' is not a tag"),
                                         (["x" * 31], "tags: '" + "x" * 30 + "…' is not a tag"),
                                         ([f"t{i}" for i in range(21)], "tags: a run takes at most 20 tags")])
def test_a_bad_tag_is_one_sentence_naming_the_field(runs_dir, tags, words):
    run_dir = make_run(runs_dir, "20260101-000000", "completed")
    with pytest.raises(UserError) as error:
        history.set_notes_and_tags(runs_dir, "20260101-000000", "", tags)
    sentence = error.value.sentence
    assert sentence.startswith(words) and sentence.endswith(".") and not re.search(r"\. [A-Z]", sentence)
    assert not (run_dir / "meta.json").exists()


def test_an_overlong_note_is_refused_with_its_length(runs_dir):
    make_run(runs_dir, "20260101-000000", "completed")
    with pytest.raises(UserError) as error:
        history.set_notes_and_tags(runs_dir, "20260101-000000", "n" * 2001, [])
    assert error.value.sentence == "notes: must be at most 2,000 characters, got 2,001; shorten them."


def test_filter_matches_notes_and_tags_and_picks_by_tag():
    def row(run_id, state, notes, tags):
        return {"id": run_id, "name": "", "state": state, "data set": "d", "model": "m", "notes": notes, "tags": tags}

    rows = [row("a", "completed", "Warmup too short", ["baseline"]), row("b", "failed", "", ["LR sweep"]),
            row("c", "completed", "", [])]
    assert [r["id"] for r in history.filter_rows(rows, text="warmup")] == ["a"]
    assert [r["id"] for r in history.filter_rows(rows, text="lr sw")] == ["b"]
    assert [r["id"] for r in history.filter_rows(rows, tags=["baseline", "LR sweep"])] == ["a", "b"]
    assert [r["id"] for r in history.filter_rows(rows, ["completed"], tags=["LR sweep"])] == []


def test_cli_json_lists_tags_and_notes(runs_dir):
    make_run(runs_dir, "20260101-000000", "completed", overfitting_curve(), results=RESULTS)
    make_run(runs_dir, "20260102-000000", "completed", created_at=2.0)
    history.set_notes_and_tags(runs_dir, "20260101-000000", "kept as the baseline", ["baseline"])
    listed = {r["id"]: r for r in json.loads(cli("list", "--runs-dir", str(runs_dir), "--json").stdout)}
    assert (listed["20260101-000000"]["tags"], listed["20260101-000000"]["notes"]) == (["baseline"],
                                                                                        "kept as the baseline")
    assert (listed["20260102-000000"]["tags"], listed["20260102-000000"]["notes"]) == ([], "")
    assert history.run_row(runs.list_runs(runs_dir)[0])["tags"] == []
