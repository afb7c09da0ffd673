"""``python -m app``: the same as the ``hark`` command (the composition happens in app.compose)."""

from __future__ import annotations

import sys

from app.cli.main import main

if __name__ == "__main__":
    sys.exit(main())
