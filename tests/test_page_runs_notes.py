"""The Runs page's notes and tags: edit them, see them in the table, find runs by them."""

from core.runner import history
from tests.test_page_runs import open_runs, table, three_runs


def select_run(app, run_id):
    app.selectbox(key="runs_selected").select(run_id).run()
    return app


def test_notes_and_new_tags_are_saved_and_shown_in_the_table(runs_dir):
    three_runs(runs_dir)
    app = select_run(open_runs(), "20260102-000000-oom")
    app.multiselect(key="tags_20260102-000000-oom").select("needs smaller batch").run()
    app.text_area(key="notes_20260102-000000-oom").input("Ran out of memory at batch 64.").run()
    app.button(key="save_meta").click().run()
    assert not app.exception and not app.error
    assert history.read_meta(runs_dir / "20260102-000000-oom") == {"notes": "Ran out of memory at batch 64.",
                                                                    "tags": ["needs smaller batch"]}
    row = table(app).set_index("id").loc["20260102-000000-oom"]
    assert list(row["tags"]) == ["needs smaller batch"] and row["notes"] == "Ran out of memory at batch 64."


def test_a_bad_tag_or_an_overlong_note_is_one_sentence_and_nothing_is_saved(runs_dir):
    three_runs(runs_dir)
    app = select_run(open_runs(), "20260102-000000-oom")
    app.multiselect(key="tags_20260102-000000-oom").select("oom <2>").run()
    app.button(key="save_meta").click().run()
    assert [e.body for e in app.error] == ["tags: 'oom <2>' is not a tag; use up to 30 letters, digits and spaces "
                                           "(or - _ . + : /), starting with a letter or digit."]
    app.multiselect(key="tags_20260102-000000-oom").unselect("oom <2>").run()
    app.text_area(key="notes_20260102-000000-oom").input("x" * 2500).run()
    app.button(key="save_meta").click().run()
    assert [e.body for e in app.error] == ["notes: must be at most 2,000 characters, got 2,500; shorten them."]
    assert not (runs_dir / "20260102-000000-oom" / "meta.json").exists()


def test_search_finds_runs_by_notes_and_tags_and_the_tag_filter_picks_them(runs_dir):
    three_runs(runs_dir)
    history.set_notes_and_tags(runs_dir, "20260101-000000-base", "Warm-up of 10% was enough.", ["baseline"])
    history.set_notes_and_tags(runs_dir, "20260102-000000-oom", "", ["lr sweep", "baseline"])
    app = open_runs()
    app.text_input(key="runs_text_filter").input("warm-up").run()
    assert list(table(app)["id"]) == ["20260101-000000-base"]
    app.text_input(key="runs_text_filter").input("LR SWEEP").run()
    assert list(table(app)["id"]) == ["20260102-000000-oom"]
    app.text_input(key="runs_text_filter").input("").run()
    assert app.multiselect(key="runs_tag_filter").options == ["baseline", "lr sweep"]
    app.multiselect(key="runs_tag_filter").select("baseline").run()
    assert list(table(app)["id"]) == ["20260102-000000-oom", "20260101-000000-base"]
