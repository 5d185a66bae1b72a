"""``python -m server``: the stdio worker by default, or the ``capture`` command line (see server.cli).

A stdio worker whose last job was cancelled while its models were still loading beside the detectors (the
``scorehmr-load`` thread, :class:`server.background.Background`) ends without the interpreter's finalization:
finalizing beside a daemon thread that is inside torch's import or writing to stderr can abort the process
(SIGABRT, seen once in a test run under load). Its answers are all sent by then; stdout and stderr are flushed.
"""
import os
import sys
import threading

from .cli import main

code = main()
if len(sys.argv) < 2 or sys.argv[1] == "serve":
    if any(t.daemon and t.is_alive() and t.name.startswith("scorehmr-") for t in threading.enumerate()):
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
sys.exit(code)
