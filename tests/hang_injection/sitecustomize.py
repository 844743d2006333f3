"""Loaded at start-up by the batch's grading processes of some tests (PYTHONPATH), never by the
product: grading the notebook named by GRADER_TEST_HANG_ON never ends in the grader's own code (a
stand-in for a notebook built to be slow to read), and grading the one named by GRADER_TEST_DIE_ON
kills its grading process (as running out of memory would). tests/test_batch.py."""
import os

if os.environ.get("GRADER_TEST_HANG_ON") or os.environ.get("GRADER_TEST_DIE_ON"):
    import signal
    import time

    import grader.pipeline as pipeline

    _load_submission = pipeline.load_submission

    def _sabotaged(path, *args, **kwargs):  # inside grade_notebook, where the grader's own work is
        name = os.path.basename(str(path))
        if name == os.environ.get("GRADER_TEST_HANG_ON"):
            while True:
                time.sleep(1)
        if name == os.environ.get("GRADER_TEST_DIE_ON"):
            os.kill(os.getpid(), signal.SIGKILL)
        return _load_submission(path, *args, **kwargs)

    pipeline.load_submission = _sabotaged
