"""The browser's part of the sign-in: open Google's consent page, and catch Google's redirect
back to Hark on a one-shot HTTP server on 127.0.0.1 (the loopback flow for installed apps)."""

from __future__ import annotations

import logging
import os
import sys
import time
import webbrowser
import wsgiref.simple_server
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs

from app.shared.errors import GoogleCode, GoogleError

log = logging.getLogger(__name__)

SUCCESS_PAGE = (
    "<!doctype html><meta charset=utf-8><title>Hark</title>"
    "<p>Hark is connected to your Google account. You can close this window.</p>"
)


class Redirect:
    """A one-shot HTTP server on 127.0.0.1 that catches Google's redirect to Hark."""

    def __init__(self, port: int) -> None:
        self._port = port
        self._answer: dict[str, str] | None = None
        self._state = ""
        self._server: wsgiref.simple_server.WSGIServer | None = None

    def __enter__(self) -> Redirect:
        try:
            self._server = wsgiref.simple_server.make_server(
                "127.0.0.1", self._port, self._app, handler_class=_QuietHandler
            )
        except OSError as exc:
            raise GoogleError(
                GoogleCode.LOGIN_PORT,
                f"cannot listen on 127.0.0.1:{self._port} for Google's answer ({exc.strerror}). "
                "Choose another --port, or leave it out to use a free one.",
            ) from None
        return self

    def __exit__(self, *exc: object) -> None:
        if self._server is not None:
            self._server.server_close()

    @property
    def uri(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_port}/"

    def wait(self, state: str, timeout_s: float) -> str:
        """Serve until the redirect with our ``state`` arrives; return its code."""
        assert self._server is not None
        self._state = state
        deadline = time.monotonic() + timeout_s
        while self._answer is None:
            left = deadline - time.monotonic()
            if left <= 0:
                raise GoogleError(
                    GoogleCode.LOGIN_TIMEOUT,
                    f"no answer from the browser within {timeout_s:.0f} s. Run `hark google "
                    "login` again and finish in the browser (--timeout S gives more time).",
                )
            self._server.timeout = min(left, 1.0)
            self._server.handle_request()
        if "error" in self._answer:
            error = self._answer["error"]
            if error == "access_denied":
                raise GoogleError(
                    GoogleCode.LOGIN_DENIED,
                    "access was not granted in the browser. Run `hark google login` again and "
                    "allow the access Hark asks for (or turn features off in the settings).",
                )
            raise GoogleError(GoogleCode.LOGIN_FAILED, f"Google refused the sign-in ({error}).")
        return self._answer["code"]

    def _app(self, environ: dict[str, Any], start: Callable[..., Any]) -> list[bytes]:
        query = {k: v[0] for k, v in parse_qs(environ.get("QUERY_STRING", "")).items()}
        if environ.get("PATH_INFO", "/") != "/" or not ({"code", "error"} & query.keys()):
            start("404 Not Found", [("Content-Type", "text/plain; charset=utf-8")])
            return [b"Not found"]
        if query.get("state") != self._state:
            log.warning("Google sign-in: ignored a redirect with a wrong state")
            start("400 Bad Request", [("Content-Type", "text/plain; charset=utf-8")])
            return [b"This answer does not belong to the sign-in Hark started."]
        self._answer = query
        page = (
            SUCCESS_PAGE
            if "code" in query
            else SUCCESS_PAGE.replace("is connected to", "was not given access to")
        )
        start("200 OK", [("Content-Type", "text/html; charset=utf-8")])
        return [page.encode("utf-8")]


class _QuietHandler(wsgiref.simple_server.WSGIRequestHandler):
    timeout = 10  # a connection that sends nothing must not block the wait for the redirect

    def log_message(self, format: str, *args: Any) -> None:
        """The query string holds the authorization code: never print it."""


def open_in_browser(url: str) -> None:
    """Open the URL in a graphical browser; without a display (SSH, a server) do nothing
    rather than start a text browser in the terminal: the printed URL is enough there."""
    if sys.platform.startswith("linux") and not (
        os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
    ):
        log.info("no display; open the printed URL in a browser on any device")
        return
    try:
        opened = webbrowser.open(url, new=1, autoraise=True)
    except webbrowser.Error:
        opened = False
    if not opened:
        log.info("no browser could be opened; open the printed URL yourself")
