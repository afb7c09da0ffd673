"""The bundle's entry point: the same as the ``hark`` console script (``app.cli.main.run``).

PyInstaller needs a script, not an entry-point name; this one keeps the bundle and a pip install
starting through the very same function.
"""

from __future__ import annotations

import multiprocessing

from app.cli.main import run

if __name__ == "__main__":
    # a frozen Windows/macOS child process must stop here instead of starting Hark again
    multiprocessing.freeze_support()
    run()
