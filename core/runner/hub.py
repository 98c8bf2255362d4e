"""Push a run's model to the Hugging Face Hub: `python -m core.runs push RUN_DIR --repo-id USER/NAME [--public]`.

Model, tokenizer and model card go up in one commit, so the repository holds all of them or none of them.
The token comes from the caller (the Runs page's password field) or the environment (HF_TOKEN); it is passed
to huggingface_hub and nowhere else: never written to a file or a log, and masked in every error.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from core.common.errors import UserError
from core.common.safety import MASK, mask_secrets
from core.rundir.layout import MODEL_CARD, RunDir
from core.views.model_card import build_card, write_model_card

TOKEN_ENV = "HF_TOKEN"
# The Hub's own rule (huggingface_hub.utils.validate_repo_id), with the owner required: USER/NAME.
REPO_PART = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9._-]{0,94}[A-Za-z0-9])?")
REPO_ID_MAX = 96
# Left out of the upload: the Trainer's pickled arguments (a pickle is code to whoever loads it; nothing needs it).
NOT_PUSHED = {"training_args.bin"}


@dataclass
class PushResult:
    url: str
    files: list[str] = field(default_factory=list)
    private: bool = True


def check_repo_id(repo_id: str) -> str:
    """USER/NAME with letters, digits, '-', '_' and '.' only; anything else is one sentence."""
    repo_id = (repo_id or "").strip()
    parts = repo_id.split("/")
    if (len(parts) != 2 or len(repo_id) > REPO_ID_MAX or not all(REPO_PART.fullmatch(p) for p in parts)
            or "--" in repo_id or ".." in repo_id or repo_id.endswith(".git")):
        raise UserError(f"'{repo_id}' is not a Hub repository id; write it as USER/NAME with letters, digits, "
                        "'-', '_' or '.' (no spaces, no '--' or '..', at most 96 characters).",
                        field="repo id", code="BAD_REPO_ID")
    return repo_id


def files_to_push(run_dir: Path) -> list[Path]:
    """The saved model's files that go to the Hub: weights, config, tokenizer, card and its image."""
    model_dir = RunDir(run_dir).model
    if not (model_dir / "config.json").is_file():
        raise UserError(f"run '{Path(run_dir).name}' has no saved model; push a run that finished and saved it.",
                        field="run", code="NO_MODEL")
    return sorted(p for p in model_dir.rglob("*") if p.is_file() and p.name not in NOT_PUSHED
                  and not p.name.startswith("."))


def resolve_token(token: str | None = None) -> str:
    """The token typed on the page, else HF_TOKEN from the environment."""
    token = (token or "").strip() or os.environ.get(TOKEN_ENV, "").strip()
    if not token:
        raise UserError(f"no Hugging Face token; set {TOKEN_ENV} in the environment or paste a token with write "
                        "access (huggingface.co/settings/tokens).", field="token", code="NO_TOKEN")
    return token


def push_run(run_dir: Path, repo_id: str, private: bool = True, token: str | None = None, api=None) -> PushResult:
    """Create (or reuse) the repository and upload model, tokenizer and card in one commit."""
    from huggingface_hub import CommitOperationAdd, HfApi

    run_dir, repo_id = Path(run_dir), check_repo_id(repo_id)
    files_to_push(run_dir)  # a run without a model stops here, before anything is written
    token = resolve_token(token)
    write_model_card(run_dir)
    files = files_to_push(run_dir)  # with the card and its image
    model_dir = RunDir(run_dir).model
    # The card pushed shows the repository id in its usage code; the run's own card keeps a placeholder.
    card = str(build_card(run_dir, model_reference=repo_id)).encode("utf-8")
    operations = [CommitOperationAdd(path_in_repo=p.relative_to(model_dir).as_posix(),
                                     path_or_fileobj=card if p.name == MODEL_CARD else str(p)) for p in files]
    api = api or HfApi()
    created = False
    try:
        url = api.create_repo(repo_id, token=token, private=private, repo_type="model", exist_ok=True)
        created = True
        _refuse_public_repo(api, repo_id, token, private)
        api.create_commit(repo_id, operations=operations, token=token, repo_type="model",
                          commit_message=f"Upload {run_dir.name}: model, tokenizer and model card")
    except UserError:
        raise
    except Exception as exc:  # noqa: BLE001 - offline, unauthorised, refused: each one sentence
        raise hub_failure(exc, repo_id, token, created) from None
    return PushResult(url=str(url), files=[op.path_in_repo for op in operations], private=private)


def _refuse_public_repo(api, repo_id: str, token: str, private: bool) -> None:
    """A repository that already existed keeps its visibility: never upload a private model to a public one."""
    if private and not getattr(api.repo_info(repo_id, token=token, repo_type="model"), "private", True):
        raise UserError(f"'{repo_id}' already exists and is public, so nothing was uploaded; make it private on "
                        "the Hub, or push to a new repository id.", field="repo id", code="REPO_PUBLIC")


def hub_failure(exc: BaseException, repo_id: str, token: str, created: bool) -> UserError:
    """One sentence for a failed push, with the token masked and what was left on the Hub said."""
    from huggingface_hub.errors import HfHubHTTPError, OfflineModeIsEnabled

    # Only the empty repository can be left behind (the files go in one commit); the user is told of it.
    left = f" The repository '{repo_id}' exists now but holds none of the files." if created else ""
    status = getattr(getattr(exc, "response", None), "status_code", None)
    if isinstance(exc, OfflineModeIsEnabled):
        message = "cannot push: offline mode is on (HF_HUB_OFFLINE is set); unset it on a machine with internet."
    elif status in (401, 403):
        message = (f"the Hub refused the token for '{repo_id}' ({status}); use a token with write access to that "
                   "user or organisation.")
    elif isinstance(exc, HfHubHTTPError):
        detail = " ".join(str(getattr(exc, "server_message", None) or exc).split())[:200]
        message = f"the Hub refused the upload ({status}: {detail}); check the repository id and the token."
    elif isinstance(exc, (ConnectionError, TimeoutError, OSError)) or type(exc).__module__.startswith("httpx"):
        message = "cannot reach huggingface.co from this machine; check the internet connection and try again."
    else:
        message = f"the push failed ({type(exc).__name__}: {' '.join(str(exc).split())[:200]})."
    return UserError(_masked(message + left, token), code="PUSH_FAILED")


def _masked(text: str, token: str) -> str:
    return mask_secrets(text.replace(token, MASK) if token else text)


def push_command(run_dir: str, repo_id: str, private: bool) -> int:
    """Exit 0 pushed, 2 bad input (nothing sent), 1 the Hub could not be reached or refused: one line on stderr."""
    import sys

    try:
        result = push_run(Path(run_dir), repo_id, private=private)
    except UserError as exc:
        print(f"error: {exc.sentence}", file=sys.stderr)
        return 1 if exc.code == "PUSH_FAILED" else 2
    visibility = "private" if result.private else "public"
    print(f"Pushed {len(result.files)} files ({', '.join(result.files)}) to {result.url} ({visibility}).")
    return 0
