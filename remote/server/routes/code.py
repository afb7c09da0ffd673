"""``PUT /box/code``: a running box takes a newer Hark's code for its next start.

A desktop that is now another Hark than the one its box runs (``/status`` ``code.sha256``)
sends its wheel here with the key and the wheel's SHA-256 in ``X-Hark-Code-SHA256``. The server
checks the body against that hash, keeps the wheel in the box's code folder and names it the
expected code (``code/expected``); the desktop then restarts the instance, and the box's
bootstrap installs that wheel instead of asking for one (``remote/image/boxboot.py``). Only on
a box (``box_code_dir`` set by its start-up script); elsewhere the route answers 404.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import re

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from app.shared.protocol import CODE_HASH_HEADER, CODE_UPLOAD_PATH, ErrorCode, error_body
from remote.server.context import context

log = logging.getLogger(__name__)

_HEX64 = re.compile(r"[0-9a-f]{64}")


async def receive_code(request: Request) -> JSONResponse:
    """Keep the wheel whose hash the header names, for the next start of this box."""
    folder = context(request).settings.box_code_dir
    if folder is None:
        return JSONResponse(error_body(ErrorCode.NOT_FOUND, "this server is not a Hark box"), 404)
    want = request.headers.get(CODE_HASH_HEADER, "").strip().lower()
    if not _HEX64.fullmatch(want):
        return JSONResponse(
            error_body(ErrorCode.BAD_REQUEST, f"send the wheel's SHA-256 in {CODE_HASH_HEADER}"),
            400,
        )
    folder.mkdir(parents=True, exist_ok=True)
    part = folder / f"upload.{os.getpid()}.part"
    digest = hashlib.sha256()
    with part.open("wb") as out:
        async for chunk in request.stream():
            digest.update(chunk)
            out.write(chunk)
    if not hmac.compare_digest(digest.hexdigest(), want):
        part.unlink()
        log.warning("refused a code upload: its hash is not the one it named")
        return JSONResponse(
            error_body(ErrorCode.CODE_HASH_MISMATCH, "the wheel's SHA-256 is not the one named"),
            400,
        )
    part.chmod(0o600)
    part.replace(folder / f"{want}.whl")
    expected = folder / "expected.part"
    expected.write_text(want + "\n", encoding="ascii")
    expected.replace(folder / "expected")
    log.info("new code %s kept for the next start of this box", want[:12])
    return JSONResponse({"received": want, "restart": True}, 202)


def add_routes(app: FastAPI) -> None:
    app.put(CODE_UPLOAD_PATH, summary="A newer Hark's code for this box's next start")(receive_code)
