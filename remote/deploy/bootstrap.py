"""The ``onstart`` text a new Vast.ai instance runs: a short bootstrap for the real script.

Vast.ai limits ``onstart`` to 4096 characters, and ``remote/image/onstart.sh`` is about 14 KB
(7 KB even gzipped and base64-encoded), so it cannot travel inline. It travels inside the
wheel instead (package data of ``remote``): the bootstrap installs the pinned
``hark-assistant[server]`` into ``$HARK_VENV`` with ``uv`` (Python 3.12, so any base image
works), finds ``remote/image/onstart.sh`` there with ``importlib.resources`` and starts it in
the background, logging to ``$HARK_HOME/logs/onstart.log``. The script and the code that serves
are then always the same version.

On a restart of the instance the install is skipped: ``onstart.sh`` writes
``$HARK_VENV/.hark-requirement`` once it has installed that exact requirement (with the CUDA
libraries), and the bootstrap reads it. The bootstrap never prints a value of the environment
(the API key and the TLS key are in it).
"""

from __future__ import annotations

import shlex

from app import __version__
from remote.deploy.vast_models import MAX_ONSTART

_TEMPLATE = r"""#!/bin/bash
# Hark: install the pinned Hark server, then run its start-up script (remote/image/onstart.sh).
set -euo pipefail
umask 077
if [[ -z "${HARK_API_KEY:-}" && -r /etc/environment ]]; then
  set -a; . /etc/environment || true; set +a
fi
export HARK_HOME=${HARK_HOME:-/workspace/hark}
export HARK_VENV=${HARK_VENV:-$HARK_HOME/venv}
export HARK_VERSION=${HARK_VERSION:-@VERSION@}
export PATH="$HOME/.local/bin:$PATH"
mkdir -p "$HARK_HOME/logs"
LOG=$HARK_HOME/logs/onstart.log
say() { printf '%s bootstrap: %s\n' "$(date -u +%FT%TZ)" "$*" | tee -a "$LOG" >&2; }
if [[ "$HARK_VERSION" =~ ^[0-9][0-9A-Za-z.+!-]*$ ]]; then
  req="hark-assistant[server]==$HARK_VERSION"
else
  req=$HARK_VERSION
fi
marker=$HARK_VENV/.hark-requirement
if ! [[ -x "$HARK_VENV/bin/python" && -f "$marker" && "$(cat "$marker")" == "$req" ]]; then
  if ! command -v uv >/dev/null; then
    if ! command -v curl >/dev/null; then
      say "installing curl"
      DEBIAN_FRONTEND=noninteractive apt-get update -qq
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq curl ca-certificates
    fi
    say "installing uv"
    curl -LsSf https://astral.sh/uv/install.sh | env UV_NO_MODIFY_PATH=1 sh >>"$LOG" 2>&1
  fi
  say "installing $req"
  uv venv --quiet --allow-existing --python 3.12 "$HARK_VENV" >>"$LOG" 2>&1
  uv pip install --quiet --python "$HARK_VENV/bin/python" "$req" >>"$LOG" 2>&1
fi
script=$("$HARK_VENV/bin/python" -c \
  'import importlib.resources as r; print(r.files("remote") / "image" / "onstart.sh")')
[[ -f "$script" ]] || { say "no start-up script in $req"; exit 1; }
say "starting $script"
nohup bash "$script" >>"$LOG" 2>&1 &
"""


def bootstrap_script(hark_version: str | None = None) -> str:
    """The onstart text (≤ 4096 characters) for ``hark_version``, this Hark's by default.

    ``hark_version`` is a version (``0.1.0``) or a full pip requirement
    (``hark-assistant[server] @ git+https://…@ref``); ``HARK_VERSION`` in the instance's
    environment, when set, wins over it.
    """
    version = (hark_version or __version__).strip()
    text = _TEMPLATE.replace("@VERSION@", shlex.quote(version))
    if len(text) > MAX_ONSTART:
        raise ValueError(
            f"the bootstrap is {len(text)} characters, over Vast.ai's {MAX_ONSTART}; "
            "give a shorter HARK_VERSION"
        )
    return text
