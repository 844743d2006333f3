"""Start an IPython kernel that has locked itself in first (the ``--engine kernel`` worker).

    python -I kernel_boot.py CONFIG_JSON -f CONNECTION_FILE

It loads worker.py (as module ``grader_worker``), applies the same lock-down as the default
worker (limits, namespaces, private user id), then hands over to ipykernel. The grader later runs
``grader_worker.serve_fifos(...)`` inside the kernel to call the graded functions.
"""
import importlib.util
import json
import os
import sys

config = json.loads(sys.argv[1])
arguments = sys.argv[2:]
spec = importlib.util.spec_from_file_location("grader_worker", os.path.join(os.path.dirname(os.path.abspath(__file__)), "worker.py"))
worker = importlib.util.module_from_spec(spec)
sys.modules["grader_worker"] = worker
spec.loader.exec_module(worker)

from ipykernel import kernelapp  # noqa: E402  (imported while its files are surely readable)

worker.configure(config, -1, -1)
worker.lock_down()
sys.argv = [sys.argv[0], *arguments]
kernelapp.launch_new_instance()
