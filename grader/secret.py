"""The grading secret: hidden cases nobody can predict without it.

The hidden cases' seed is HMAC-SHA256(secret, SHA-256 of everything the student submitted that is
graded: the notebook and their own helper modules). The grader package is public, so without the
secret in the key anyone could compute a notebook's hidden inputs, and their answers, in advance.

Where the secret comes from, first match wins:

1. ``GradeConfig.secret`` (a batch puts its own there, see ``for_batch``);
2. the ``GRADER_SECRET`` environment variable;
3. the file ``GradeConfig.secret_file`` names; else, for a batch, ``OUT/.grader-secret`` (kept with
   the class's outputs so a TA can reproduce the run); else ``GRADER_SECRET_FILE``, else
   ``$XDG_CONFIG_HOME/grader/secret`` (``~/.config/grader/secret``). It is created on first use
   with ``secrets.token_hex(32)``, mode 0600.

``--seed N`` bypasses all of this. The secret is never printed, nor stored in any result.
"""
from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import stat
from pathlib import Path
from typing import Mapping

from .config import GradeConfig
from .errors import GraderError

SECRET_ENV = "GRADER_SECRET"
SECRET_FILE_ENV = "GRADER_SECRET_FILE"
BATCH_SECRET_NAME = ".grader-secret"


def default_secret_file() -> Path:
    """The single-notebook secret: GRADER_SECRET_FILE, else the user's config folder."""
    if os.environ.get(SECRET_FILE_ENV):
        return Path(os.environ[SECRET_FILE_ENV]).expanduser()
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base).expanduser() / "grader" / "secret"


def load_or_create(path: Path) -> str:
    """The secret kept in ``path``, made (0600, in a 0700 folder) when there is none yet.

    Two graders starting at once agree: the file is created exclusively, and the loser reads the
    winner's. Raises GraderError when the file cannot be read or made."""
    try:
        return _read(path)
    except FileNotFoundError:
        pass
    except OSError as error:
        raise GraderError(f"cannot read the grading secret {path}: {error.strerror}; fix that path, or set "
                          f"{SECRET_FILE_ENV} or {SECRET_ENV}, or use --seed N") from None
    value = secrets.token_hex(32)
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # made meanwhile by another grader; or a link to nothing, never followed
        try:
            return _read(path)
        except OSError as error:
            raise GraderError(f"cannot read the grading secret {path}: {error.strerror}; fix that path, or set "
                              f"{SECRET_FILE_ENV} or {SECRET_ENV}, or use --seed N") from None
    except OSError as error:
        raise GraderError(f"cannot create the grading secret {path}: {error.strerror}; set {SECRET_FILE_ENV} or "
                          f"{SECRET_ENV}, or use --seed N") from None
    with os.fdopen(descriptor, "w") as handle:
        handle.write(value + "\n")
    return value


#: A secret is 64 hex digits; anything longer is not one.
MAX_SECRET_BYTES = 4096


def _read(path: Path) -> str:
    """The secret in ``path``, which must be a regular file that nobody but its owner (us or root) may
    have written: a FIFO would block the grader for ever, and a file someone else made or may change
    holds a secret that someone knows, so hidden cases they can compute. FileNotFoundError when absent."""
    descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    with os.fdopen(descriptor, "rb") as handle:
        info = os.fstat(descriptor)
        fix = f"delete it to make a new one (hidden cases change), or set {SECRET_FILE_ENV} or {SECRET_ENV}"
        if not stat.S_ISREG(info.st_mode):
            raise GraderError(f"the grading secret {path} is not a regular file: {fix}")
        if info.st_uid not in (os.geteuid(), 0):
            raise GraderError(f"the grading secret {path} belongs to user id {info.st_uid}, not to you: someone "
                              f"else may have chosen it; {fix}")
        if info.st_mode & 0o002:
            raise GraderError(f"the grading secret {path} may be changed by anyone (mode {stat.filemode(info.st_mode)}): "
                              f"{fix}")
        value = handle.read(MAX_SECRET_BYTES).decode("utf-8", errors="replace").strip()
    if not value:
        raise GraderError(f"the grading secret {path} is empty: delete it to make a new one (hidden cases change)")
    return value


def secret_path(config: GradeConfig) -> Path | None:
    """The file this run's secret comes from; None when the config or GRADER_SECRET holds it."""
    if config.secret or os.environ.get(SECRET_ENV):
        return None
    return Path(config.secret_file).expanduser() if config.secret_file else default_secret_file()


def resolve(config: GradeConfig) -> str:
    """The secret for this run (made and kept in its file on first use)."""
    path = secret_path(config)
    if path is not None:
        return load_or_create(path)
    return config.secret or os.environ[SECRET_ENV]


def for_batch(config: GradeConfig, out: Path) -> GradeConfig:
    """The batch's config with its secret in it: kept with the class's outputs, in
    ``out/.grader-secret`` (made on the first run), unless the config or GRADER_SECRET give one
    (GRADER_SECRET_FILE is the single notebook's). Loaded once here, so that every grading process
    (and Dask workers elsewhere) draws the same cases."""
    if config.hidden_seed is not None or config.secret:
        return config
    if config.secret_file or os.environ.get(SECRET_ENV):
        return config.with_changes(secret=resolve(config))
    # Only the value goes into the config: results stay fingerprinted alike however --out is spelled.
    return config.with_changes(secret=load_or_create(out / BATCH_SECRET_NAME))


def submission_digest(notebook: bytes, helpers: Mapping[str, bytes]) -> bytes:
    """SHA-256 of what the student submitted that is graded: the notebook and their helper modules."""
    digest = hashlib.sha256(b"notebook\0%d\0" % len(notebook) + notebook)
    for name in sorted(helpers):
        content = helpers[name]
        digest.update(b"\0helper\0" + name.encode() + b"\0%d\0" % len(content) + content)
    return digest.digest()


def hidden_seed(secret: str, digest: bytes) -> int:
    """The hidden cases' seed: HMAC-SHA256 keyed with the secret over the submission's digest."""
    return int.from_bytes(hmac.new(secret.encode(), digest, hashlib.sha256).digest()[:8], "big")

