"""``python -m grader`` is the ``grade`` command."""
from .cli import run

if __name__ == "__main__":  # not when a spawned process (a local Dask worker) imports it again
    run()
