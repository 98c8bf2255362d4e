"""Security: localhost by default, XSRF on, uploads capped, names and paths kept inside the runs folder,
tokens never written or shown. (A token in the environment of a real run: tests/test_crash_safety.py.)"""

import ast
import os
import tomllib

from core.common import safety
from core.config.schema import RunConfig
from core.rundir import runs
from core.runner import launcher
from tests.conftest import ROOT, tiny_config


def test_the_server_config_binds_localhost_keeps_xsrf_and_caps_uploads():
    server = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())["server"]
    assert server["address"] == "127.0.0.1"
    assert server["enableXsrfProtection"] is True
    assert 0 < server["maxUploadSize"] <= 200


def test_the_readme_says_how_to_expose_the_server_and_what_that_means():
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("## Security"):]
    assert "--server.address 0.0.0.0" in section and "anyone" in section and "XSRF" in section


def test_no_child_process_is_started_through_a_shell():
    for path in [*(ROOT / "core").glob("*.py"), *(ROOT / "pages").glob("*.py"), ROOT / "app.py"]:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call):
                assert not any(k.arg == "shell" and not (isinstance(k.value, ast.Constant) and k.value.value is False)
                               for k in node.keywords), f"{path}:{node.lineno}"
                assert ast.unparse(node.func) not in ("os.system", "os.popen"), f"{path}:{node.lineno}"


def test_run_ids_from_the_url_cannot_leave_the_runs_folder(tmp_path):
    runs_dir = tmp_path / "runs"
    runs_dir.mkdir()
    for bad in ("../secret", "..", "/etc", "/etc/passwd", "a/../../b", "run/../../x", "%2e%2e", "~root", "", "."):
        assert runs.safe_run_path(runs_dir, bad) is None, bad


def test_a_symlinked_run_folder_leading_outside_is_refused_and_not_listed(tmp_path):
    runs_dir, outside = tmp_path / "runs", tmp_path / "outside"
    runs_dir.mkdir()
    outside.mkdir()
    runs.write_json_atomic(outside / "status.json", {"state": "completed", "created_at": 1})
    (runs_dir / "20260101-evil").symlink_to(outside, target_is_directory=True)
    (runs_dir / "20260101-real").mkdir()
    runs.write_json_atomic(runs_dir / "20260101-real" / "status.json", {"state": "completed", "created_at": 2})
    (runs_dir / "20260101-alias").symlink_to(runs_dir / "20260101-real", target_is_directory=True)
    assert runs.safe_run_path(runs_dir, "20260101-evil") is None
    assert runs.safe_run_path(runs_dir, "20260101-alias") == (runs_dir / "20260101-real").resolve()
    assert "20260101-evil" not in [run.run_id for run in runs.list_runs(runs_dir)]


def test_uploaded_file_names_become_plain_names_in_their_folder():
    cases = {"../../etc/passwd": "passwd", "/abs/data.csv": "data.csv", "C:\\Users\\me\\data.csv": "data.csv",
             "..": "file", "": "file", "a b\x00c.csv": "a b_c.csv", "re..port.csv": "re.port.csv",
             ".bashrc": "bashrc", "x" * 300 + ".csv": "x" * 116 + ".csv", "tweets (1).csv": "tweets _1_.csv"}
    for given, expected in cases.items():
        assert safety.safe_filename(given) == expected, given
    assert safety.safe_filename("../../", default="upload.csv") == "upload.csv"


def test_run_names_are_one_printable_line_and_their_folder_stays_inside(runs_dir):
    name = "../../etc/\x1b[31mred\nline"
    assert safety.clean_run_name(name) == "../../etc/ [31mred line"
    run_id = runs.new_run_id(runs_dir, safety.clean_run_name(name))
    assert runs.safe_run_path(runs_dir, run_id) == (runs_dir / run_id).resolve()


def test_token_like_config_keys_are_dropped_and_ordinary_ones_kept():
    raw = {"name": "x", "training": {"hub_token": "hf_x", "learning_rate": 1e-4, "average_tokens_across_devices": True},
           "data": {"api_key": "k", "auth": {"password": "p"}, "max_length": 64}}
    assert safety.scrub_config(raw) == {"name": "x", "training": {"learning_rate": 1e-4,
                                                                  "average_tokens_across_devices": True},
                                        "data": {"max_length": 64}}


def test_the_dashboard_writes_no_token_into_a_queued_run_folder(runs_dir, monkeypatch):
    from unittest import mock

    config = RunConfig.from_dict({**tiny_config(), "training": {**tiny_config()["training"], "hub_token": "hf_" + "a" * 30}})
    with mock.patch("core.runner.queue.submit"):  # write the folder, launch nothing
        run_dir = launcher.start_run(config, runs_dir)
    assert "hub_token" not in (run_dir / "config.json").read_text()


def test_tokens_from_the_environment_and_token_shapes_are_masked_in_shown_text():
    environ = {"HF_TOKEN": "hf_FromTheEnvironment123", "WANDB_API_KEY": "0123456789abcdef", "HOME": "/home/me"}
    text = "login hf_FromTheEnvironment123 key=0123456789abcdef home=/home/me other hf_ABCDEFGHIJKLMNOPQRSTUVWX"
    masked = safety.mask_secrets(text, environ)
    assert "FromTheEnvironment" not in masked and "0123456789abcdef" not in masked and "ABCDEFGH" not in masked
    assert "home=/home/me" in masked


def test_the_live_page_masks_a_token_in_the_training_log(runs_dir, monkeypatch):
    from tests.test_page_live_run import make_run, open_live

    monkeypatch.setenv("HF_TOKEN", "hf_ShownNowhere987654321")
    run_dir = make_run(runs_dir, "20260101-000000", "completed")
    (run_dir / "train.log").write_text("Using token hf_ShownNowhere987654321 to download\n")
    app = open_live()
    assert not app.exception
    shown = "\n".join(block.value for block in app.code)
    assert "Using token" in shown and "hf_ShownNowhere987654321" not in shown
    assert os.environ["HF_TOKEN"] == "hf_ShownNowhere987654321"
