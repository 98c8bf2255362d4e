"""Push to the Hub: everything up to the upload offline, the upload call with HfApi's network methods patched, and
a real call under HF_HUB_OFFLINE=1 through the CLI."""

import subprocess
import sys

import httpx2
import pytest
from huggingface_hub import HfApi
from huggingface_hub.errors import HfHubHTTPError

from core.common.errors import UserError
from core.runner import hub
from tests.conftest import ROOT
from tests.test_model_card import finished_run

TOKEN = "hf_" + "Zq7" * 12  # shaped like a real token, so the masking of both kinds is tested


class HubCalls:
    """Stands in for the Hub's HTTP side of HfApi: records what would be sent."""

    def __init__(self, monkeypatch, public=False, fail_commit=None):
        self.repos, self.commits, self.infos = [], [], []
        test = self

        def create_repo(api, repo_id, **kwargs):
            test.repos.append({"repo_id": repo_id, **kwargs})
            return f"https://huggingface.co/{repo_id}"

        def repo_info(api, repo_id, **kwargs):
            test.infos.append(repo_id)
            return type("Info", (), {"private": not public})()

        def create_commit(api, repo_id, operations, **kwargs):
            if fail_commit:
                raise fail_commit
            test.commits.append({"repo_id": repo_id, "operations": operations, **kwargs})

        for name, method in (("create_repo", create_repo), ("repo_info", repo_info),
                             ("create_commit", create_commit)):
            monkeypatch.setattr(HfApi, name, method)


def model_files(run_dir):
    model = run_dir / "model"
    for name in ("model.safetensors", "tokenizer.json", "tokenizer_config.json", "training_args.bin"):
        (model / name).write_bytes(b"x")
    return run_dir


def test_push_sends_model_tokenizer_and_card_in_one_private_commit(runs_dir, monkeypatch):
    calls = HubCalls(monkeypatch)
    run_dir = model_files(finished_run(runs_dir))
    result = hub.push_run(run_dir, "me/tweets", token=TOKEN)
    assert calls.repos == [{"repo_id": "me/tweets", "token": TOKEN, "private": True, "repo_type": "model",
                            "exist_ok": True}]
    [commit] = calls.commits
    sent = {op.path_in_repo: op for op in commit["operations"]}
    assert sorted(sent) == ["README.md", "config.json", "confusion_matrix.png", "model.safetensors",
                            "tokenizer.json", "tokenizer_config.json"]  # no pickled training_args.bin
    card = sent["README.md"].path_or_fileobj
    assert b'model="me/tweets"' in card and b"pipeline_tag: text-classification" in card
    assert result.url == "https://huggingface.co/me/tweets" and result.private


def test_public_when_asked(runs_dir, monkeypatch):
    calls = HubCalls(monkeypatch, public=True)
    hub.push_run(model_files(finished_run(runs_dir)), "me/tweets", private=False, token=TOKEN)
    assert calls.repos[0]["private"] is False and len(calls.commits) == 1


def test_an_existing_public_repository_gets_nothing_when_private_was_asked(runs_dir, monkeypatch):
    calls = HubCalls(monkeypatch, public=True)
    with pytest.raises(UserError, match="already exists and is public, so nothing was uploaded"):
        hub.push_run(model_files(finished_run(runs_dir)), "me/tweets", token=TOKEN)
    assert calls.commits == []


def test_a_refused_token_is_one_masked_sentence_that_says_what_was_left(runs_dir, monkeypatch):
    response = httpx2.Response(401, request=httpx2.Request("POST", "https://huggingface.co/api/models/me/tweets"))
    HubCalls(monkeypatch, fail_commit=HfHubHTTPError(f"Invalid token {TOKEN}", response=response))
    with pytest.raises(UserError) as caught:
        hub.push_run(model_files(finished_run(runs_dir)), "me/tweets", token=TOKEN)
    sentence = caught.value.sentence
    assert "refused the token" in sentence and "exists now but holds none of the files" in sentence
    assert TOKEN not in sentence


def test_the_token_comes_from_the_environment_and_is_never_written(runs_dir, monkeypatch):
    calls = HubCalls(monkeypatch)
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    run_dir = model_files(finished_run(runs_dir))
    hub.push_run(run_dir, "me/tweets")
    assert calls.repos[0]["token"] == TOKEN
    assert not [p for p in runs_dir.rglob("*") if p.is_file() and TOKEN.encode() in p.read_bytes()]


@pytest.mark.parametrize("repo_id", ["tweets", "me/my model", "me/../x", "me/a--b", "me/ümlaut", "a/b/c",
                                     "me/name.git", "-me/x", "me/" + "x" * 100])
def test_a_repo_id_with_bad_characters_is_one_sentence_before_anything_is_sent(runs_dir, monkeypatch, repo_id):
    calls = HubCalls(monkeypatch)
    with pytest.raises(UserError, match="is not a Hub repository id; write it as USER/NAME"):
        hub.push_run(model_files(finished_run(runs_dir)), repo_id, token=TOKEN)
    assert calls.repos == [] and calls.commits == []


def test_no_model_and_no_token_are_one_sentence_each(runs_dir, monkeypatch):
    monkeypatch.delenv("HF_TOKEN", raising=False)
    run_dir = finished_run(runs_dir)
    with pytest.raises(UserError, match="no Hugging Face token; set HF_TOKEN"):
        hub.push_run(run_dir, "me/tweets")
    (run_dir / "model" / "config.json").unlink()
    with pytest.raises(UserError, match="has no saved model; push a run that finished"):
        hub.push_run(run_dir, "me/tweets", token=TOKEN)


def push_cli(run_dir, *args, env_extra=None):
    env = {"PATH": "/usr/bin:/bin", "HOME": str(run_dir.parent), "HF_HUB_OFFLINE": "1", **(env_extra or {})}
    return subprocess.run([sys.executable, "-m", "core.runs", "push", str(run_dir), *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=120, env=env)


def test_cli_offline_is_one_sentence_and_sends_nothing(runs_dir):
    """A real call through huggingface_hub with HF_HUB_OFFLINE=1: the library refuses, the CLI says why."""
    result = push_cli(model_files(finished_run(runs_dir)), "--repo-id", "me/tweets",
                      env_extra={"HF_TOKEN": TOKEN})
    assert result.returncode == 1
    assert result.stderr.strip() == ("error: cannot push: offline mode is on (HF_HUB_OFFLINE is set); unset it on a "
                                     "machine with internet.")
    assert TOKEN not in result.stdout + result.stderr


def test_cli_bad_repo_id_exits_2_with_one_line(runs_dir):
    result = push_cli(finished_run(runs_dir), "--repo-id", "me/bad name", env_extra={"HF_TOKEN": TOKEN})
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1
    assert result.stderr.startswith("error: repo id: 'me/bad name' is not a Hub repository id")
