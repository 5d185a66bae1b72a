"""``python -m server``: the stdio worker by default, or the ``capture`` command line (see server.cli)."""
import sys

from .cli import main

sys.exit(main())
