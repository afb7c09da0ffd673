"""The options of ``hark server``, defined once: each field of :class:`ServerArgs` carries its
flag and help, :func:`add_arguments` puts them on ``hark``'s parser (``app.cli.server``), and
:func:`remote.server.run.serve` takes the parsed values.

Only the standard library is imported here, so that ``hark --help`` builds the parser where the
server's own libraries (uvicorn, FastAPI) are not installed.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any


def _flag(flag: str, **argparse_options: Any) -> dict[str, Any]:
    """A field's command-line flag and its argparse options (the metadata of the field)."""
    return {"flag": flag, "argparse": argparse_options}


@dataclass(frozen=True, slots=True)
class ServerArgs:
    """The options of ``hark server`` as given; :func:`remote.server.run.serve` checks them."""

    listen: str | None = field(
        default=None, metadata=_flag("--listen", metavar="HOST:PORT", help="e.g. 0.0.0.0:8443")
    )
    api_key_file: Path | None = field(
        default=None,
        metadata=_flag(
            "--api-key-file", type=Path, metavar="FILE", help="API keys, one per line (chmod 600)"
        ),
    )
    tls_cert: Path | None = field(
        default=None,
        metadata=_flag("--tls-cert", type=Path, metavar="C", help="certificate (PEM) to serve"),
    )
    tls_key: Path | None = field(
        default=None,
        metadata=_flag("--tls-key", type=Path, metavar="K", help="its private key (PEM)"),
    )
    domain: str | None = field(
        default=None,
        metadata=_flag(
            "--domain", metavar="NAME", help="get certificates for NAME automatically (ACME)"
        ),
    )
    acme_email: str | None = field(
        default=None,
        metadata=_flag("--acme-email", metavar="EMAIL", help="contact for the ACME account"),
    )
    no_tls: bool = field(
        default=False,
        metadata=_flag(
            "--no-tls", action="store_true", help="plain HTTP, on a loopback address only"
        ),
    )
    insecure_public: bool = field(
        default=False,
        metadata=_flag(
            "--insecure-public",
            action="store_true",
            help="allow --no-tls on a public address (the API key travels in clear text)",
        ),
    )
    ollama_url: str | None = field(
        default=None,
        metadata=_flag("--ollama-url", metavar="URL", help="default http://127.0.0.1:11434"),
    )
    whisper_model: str | None = field(
        default=None, metadata=_flag("--whisper-model", metavar="NAME_OR_DIR", help="default: auto")
    )
    data_dir: Path | None = field(
        default=None, metadata=_flag("--data-dir", type=Path, metavar="DIR", help="Caddy's storage")
    )
    startup_timeout_s: float = field(
        default=120.0,
        metadata=_flag("--startup-timeout", type=float, metavar="S", help="default 120"),
    )
    make_key: Path | None = field(
        default=None,
        metadata=_flag(
            "--make-key", type=Path, metavar="FILE", help="write a new API key file, then exit"
        ),
    )
    make_cert: Path | None = field(
        default=None,
        metadata=_flag(
            "--make-cert",
            type=Path,
            metavar="DIR",
            help="write a self-signed certificate + key (for --listen's address), then exit",
        ),
    )

    @classmethod
    def from_namespace(cls, args: argparse.Namespace) -> ServerArgs:
        """The values that :func:`add_arguments`' options parsed into ``args``."""
        return cls(**{f.name: getattr(args, f.name) for f in fields(cls)})


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add every option of :class:`ServerArgs` to ``parser`` (in the order of the fields)."""
    for f in fields(ServerArgs):
        parser.add_argument(
            f.metadata["flag"], dest=f.name, default=f.default, **f.metadata["argparse"]
        )
