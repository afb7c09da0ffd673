"""The ``onstart`` text a new Vast.ai instance runs: it unpacks and starts the box's bootstrap.

Vast.ai limits ``onstart`` to 4048 characters. The onstart carries one small file of this
package, ``remote/image/boxboot.py`` (standard-library Python, without its docstrings,
comments and annotations), gzip'd in base64; it unpacks it into ``$HARK_HOME/bin`` and runs it
with the image's Python 3.11+. The bootstrap moves the secrets out of the environment, takes
Hark's code from the deployer over pinned TLS, checks its SHA-256, and runs the start-up script
from that verified wheel. No package index is ever asked for Hark.

The text is the same for every deploy of one Hark, and it holds no secret: the key and the TLS
pair come in the instance's environment.
"""

from __future__ import annotations

import ast
import base64
import gzip
from importlib import resources

MAX_ONSTART_CHARS = 4048
"""Vast.ai's limit on ``onstart`` (its API reference)."""

_TEMPLATE = r"""#!/bin/bash
# Hark: remote/image/boxboot.py
umask 077
d=${HARK_HOME:-/workspace/hark}/bin
mkdir -p $d
base64 -d <<'E'|gzip -dc >$d/boxboot.py
@PAYLOAD@
E
for p in $HARK_PYTHON python3.13 python3.12 python3.11 /venv/main/bin/python python3; do
$p -c 'import sys;sys.exit(sys.version_info<(3,11))' 2>/dev/null && exec $p $d/boxboot.py
done
echo "Hark: no Python 3.11+ on this image" >&2
exit 1
"""


def box_file(name: str) -> bytes:
    """One file of ``remote/image`` (package data, so it travels in every install)."""
    return resources.files("remote").joinpath("image", name).read_bytes()


def _strip_python(source: str) -> str:
    """The same program without docstrings, comments and annotations (it must fit)."""
    tree = ast.parse(source)
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            node.returns = None
        if isinstance(node, ast.arg):
            node.annotation = None
        body = getattr(node, "body", None)
        if not isinstance(body, list):
            continue
        body[:] = [
            ast.Assign([n.target], n.value, lineno=n.lineno)
            if isinstance(n, ast.AnnAssign) and n.value is not None
            else n
            for n in body
        ]
        first = body[0] if body else None
        if (
            isinstance(first, ast.Expr)
            and isinstance(first.value, ast.Constant)
            and isinstance(first.value.value, str)
        ):
            body.pop(0)
            if not body:
                body.append(ast.Pass())
    lines = ast.unparse(ast.fix_missing_locations(tree)).splitlines()
    return "".join(" " * ((len(x) - len(x.lstrip(" "))) // 4) + x.lstrip(" ") + "\n" for x in lines)


def packed_boxboot() -> bytes:
    """``boxboot.py`` as the onstart carries it: the same program, without what only explains."""
    return _strip_python(box_file("boxboot.py").decode("utf-8")).encode()


def _payload() -> str:
    text = base64.b64encode(gzip.compress(packed_boxboot(), compresslevel=9, mtime=0))
    return "\n".join(text[i : i + 1000].decode("ascii") for i in range(0, len(text), 1000))


def bootstrap_script() -> str:
    """The onstart text (at most Vast.ai's 4048 characters)."""
    text = _TEMPLATE.replace("@PAYLOAD@", _payload())
    if len(text) > MAX_ONSTART_CHARS:
        raise ValueError(
            f"the box's bootstrap is {len(text)} characters, over Vast.ai's "
            f"{MAX_ONSTART_CHARS}; shorten remote/image/boxboot.py"
        )
    return text
