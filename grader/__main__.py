"""``python -m grader`` is the ``grade`` command."""
import sys

from .cli import main

if __name__ == "__main__":  # not when a spawned process (a local Dask worker) imports it again
    sys.exit(main())
