"""``python -m app``: the same as the ``hark`` command (the composition happens in app.runtime)."""

from __future__ import annotations

import sys

from app.cli import main

if __name__ == "__main__":
    sys.exit(main())
