"""GradeConfig: every knob of a grading run, with its default, in one frozen value.

Everything that can change a score is a field here and is read from here only (the CLI builds one
value and passes it on). A batch's resume fingerprint (fingerprint.py) hashes every field, so a new
one is included without anyone remembering to; a field that cannot change a result is left out only
by naming it, with the reason, in ``fingerprint.NOT_SCORING``. A secret is a field with
``repr=False``: only its hash is fingerprinted."""
from __future__ import annotations

from dataclasses import dataclass, field, replace

DEFAULT_CELL_TIMEOUT = 10.0
DEFAULT_CALL_TIMEOUT = 20.0
DEFAULT_NOTEBOOK_TIMEOUT = 300.0
DEFAULT_MEMORY_MB = 2048
DEFAULT_HIDDEN_CASES = 2
DEFAULT_OUTPUT_CAP = 20_000
DEFAULT_MAX_NOTEBOOK_MB = 50


@dataclass(frozen=True)
class GradeConfig:
    assignment: str | None = None
    """Force an assignment by name instead of detecting it."""
    course_version: str | None = None
    """The published course version the class was given (e.g. "v4"): every notebook is graded as it,
    whatever its file name, metadata or markdown claim (what a published erratum is accepted from).
    None: each notebook's own version is detected (load.detect_version)."""
    only: tuple[str, ...] = ()
    """Grade only these functions (empty: all)."""
    engine: str = "worker"
    """"worker" (fast, default) or "kernel" (nbclient + ipykernel, full Jupyter semantics)."""
    cell_timeout: float = DEFAULT_CELL_TIMEOUT
    """Seconds one notebook cell may run while the notebook loads."""
    call_timeout: float = DEFAULT_CALL_TIMEOUT
    """Seconds one call of a graded function may run."""
    notebook_timeout: float = DEFAULT_NOTEBOOK_TIMEOUT
    """Seconds for the whole notebook, all cells and calls together."""
    memory_mb: int = DEFAULT_MEMORY_MB
    """Address-space limit of the worker process."""
    hidden_cases: int = DEFAULT_HIDDEN_CASES
    """Randomized cases per function, compared with the live reference (0 to disable)."""
    hidden_seed: int | None = None
    """Seed for drawing the hidden cases; None derives it from the secret and the submission's content."""
    secret: str | None = field(default=None, repr=False)
    """Key of the hidden cases' seed (secret.py); None: GRADER_SECRET, else the secret file. Never
    printed: whatever records a config stores a hash of it."""
    secret_file: str | None = None
    """Where the secret is kept (made on first use); None: GRADER_SECRET_FILE, else ~/.config/grader/secret."""
    folder_is_own: bool = True
    """The notebook's folder holds this student's files only, so helper modules there (rnn_utils.py)
    are theirs and graded. A batch sets False for a notebook that shares a flat folder with others:
    loose .py files there belong to nobody, and the course's helpers are used."""
    output_cap: int = DEFAULT_OUTPUT_CAP
    """Characters of printed output kept per cell or call."""
    max_notebook_mb: int = DEFAULT_MAX_NOTEBOOK_MB
    """Notebooks larger than this are refused (outputs included)."""
    use_solutions: bool = True
    """Use the reference solutions when available (hidden cases, reference dependencies)."""
    use_zygote: bool = True
    """Fork workers from a pre-started process holding numpy (faster); False starts each afresh."""
    remember_answers: bool = False
    """Keep the reference's answers to stand-in calls for the notebooks this process grades next
    (answer_memo): a batch's grading processes and Dask workers set it; one notebook gains nothing."""
    expect_ahead: bool = False
    """Compute the hidden cases' expectations in a forked copy of the grader while the worker runs
    (ahead.py): one notebook graded alone leaves a core idle; a batch's processes use every core."""
    hide_paths: tuple[str, ...] = field(default=())
    """Extra folders the worker must not see (a batch adds the other submissions and the output)."""

    def with_changes(self, **changes) -> "GradeConfig":
        return replace(self, **changes)
