"""``hark server``: check the options, build the Hark server app, run it behind its TLS edge.

With TLS (the normal case) uvicorn serves the app on 127.0.0.1 and Caddy holds the one public
port, ``HOST:PORT``, with the given (pinned) certificate or with automatic certificates for a
domain (see :mod:`remote.server.caddy`). ``--no-tls`` lets uvicorn listen on ``HOST:PORT``
itself, and only on a loopback address: anywhere else the API key would cross the network in
clear text — unless the user insists with ``--insecure-public`` (e.g. a TLS proxy of their own
on the same host). Every option is checked before anything starts, with a message that says
what is wrong and what to do. Supervision and shutdown: :mod:`remote.server.stack`.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
import sys
from pathlib import Path
from typing import Any, TextIO

from pydantic import ValidationError

from app.shared.errors import ConfigCode, ConfigError
from app.shared.paths import data_dir as hark_data_dir
from remote.server.caddy import find_caddy
from remote.server.command import ServerArgs
from remote.server.settings import ServerSettings
from remote.server.stack import (
    DEFAULT_MAX_BODY_BYTES,
    DEFAULT_STARTUP_TIMEOUT_S,
    Listen,
    ServeOptions,
    bind_socket,
    parse_listen,
    run_stack,
)
from remote.tls import (
    MIN_API_KEY_CHARS,
    CertInfo,
    check_pair,
    check_private_file,
    write_api_key_file,
    write_self_signed,
)

log = logging.getLogger(__name__)


def check_api_key_file(path: Path) -> int:
    """Check the API key file the server will read; the number of keys in it.

    One key per line, ``#`` starts a comment; the file must be private (``chmod 600``).
    """
    if not path.is_file():
        raise ConfigError(
            ConfigCode.API_KEY_FILE_MISSING,
            f"the API key file {path} does not exist; make one with "
            f"`hark server --make-key {path}`.",
        )
    check_private_file(path, "API key")
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(
            ConfigCode.API_KEY_FILE_UNREADABLE, f"the API key file {path} cannot be read: {exc}."
        ) from exc
    keys = [s for s in (line.strip() for line in lines) if s and not s.startswith("#")]
    if not keys:
        raise ConfigError(
            ConfigCode.API_KEY_FILE_EMPTY,
            f"the API key file {path} holds no key; put one key per line, or make one with "
            f"`hark server --make-key FILE`.",
        )
    short = [i for i, k in enumerate(keys, 1) if len(k) < MIN_API_KEY_CHARS]
    if short:
        raise ConfigError(
            ConfigCode.API_KEY_TOO_SHORT,
            f"key {short[0]} in {path} is shorter than {MIN_API_KEY_CHARS} characters, too easy "
            "to guess for a server on the network; use long random keys (`hark server "
            "--make-key FILE` makes one).",
        )
    return len(keys)


def check_options(
    listen: str,
    api_key_file: Path,
    *,
    tls_cert: Path | None = None,
    tls_key: Path | None = None,
    no_tls: bool = False,
    domain: str | None = None,
    insecure_public: bool = False,
    acme_email: str | None = None,
    acme_ca: str | None = None,
    data_dir: Path | None = None,
    caddy_binary: Path | None = None,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    startup_timeout_s: float = DEFAULT_STARTUP_TIMEOUT_S,
) -> ServeOptions:
    """Check everything that can be checked before starting; raise ``ConfigError`` if wrong.

    The first group of options are those of ``hark server``; ``acme_ca`` points automatic
    certificates at another ACME CA, ``caddy_binary`` at another Caddy.
    """
    where = parse_listen(listen)
    if (tls_cert is None) != (tls_key is None):
        given, missing = (
            ("--tls-cert", "--tls-key") if tls_key is None else ("--tls-key", "--tls-cert")
        )
        raise ConfigError(
            ConfigCode.TLS_PAIR_INCOMPLETE,
            f"{given} needs {missing} too (the certificate and its key).",
        )
    modes = [tls_cert is not None, domain is not None, no_tls]
    if sum(modes) > 1:
        raise ConfigError(
            ConfigCode.TLS_MODE_CONFLICT,
            "choose one of: --tls-cert/--tls-key (a pinned certificate), --domain NAME "
            "(automatic certificates) or --no-tls.",
        )
    if not any(modes):
        raise ConfigError(
            ConfigCode.TLS_MODE_MISSING,
            "say how to serve TLS: --tls-cert C --tls-key K (make a pair with `hark server "
            "--listen HOST:PORT --make-cert DIR`), --domain NAME for automatic certificates, "
            "or --no-tls on 127.0.0.1 only.",
        )
    if no_tls and not where.is_loopback and not insecure_public:
        raise ConfigError(
            ConfigCode.SERVER_INSECURE_PUBLIC,
            f"--no-tls on {where} would send the API key and every request in clear text over "
            "the network; use TLS (--tls-cert/--tls-key), or listen on 127.0.0.1, or add "
            "--insecure-public if a TLS proxy of your own sits in front on this host.",
        )
    if domain is not None and (not domain.strip() or "/" in domain or ":" in domain):
        raise ConfigError(
            ConfigCode.SERVER_DOMAIN_INVALID,
            f"--domain {domain!r}: give a bare DNS name like hark.example.org.",
        )
    check_api_key_file(api_key_file)
    cert = check_pair(tls_cert, tls_key) if tls_cert is not None and tls_key is not None else None
    if cert is not None or domain is not None:
        find_caddy(caddy_binary)
    _check_port_free(where)
    return ServeOptions(
        listen=where,
        api_key_file=api_key_file,
        cert=cert,
        domain=domain.strip() if domain else None,
        acme_email=acme_email,
        acme_ca=acme_ca,
        data_dir=data_dir,
        caddy_binary=caddy_binary,
        max_body_bytes=max_body_bytes,
        startup_timeout_s=startup_timeout_s,
    )


def _check_port_free(where: Listen) -> None:
    try:
        bind_socket(where.host, where.port).close()
    except PermissionError as exc:
        raise ConfigError(
            ConfigCode.SERVER_PORT_DENIED,
            f"not allowed to listen on {where} (ports below 1024 need root or "
            "CAP_NET_BIND_SERVICE); pick a port above 1024, e.g. 8443.",
        ) from exc
    except OSError as exc:
        raise ConfigError(
            ConfigCode.SERVER_PORT_BUSY,
            f"cannot listen on {where}: {exc.strerror} (is another server running there? "
            "stop it or pick another port).",
        ) from exc


def serve(args: ServerArgs, *, out: TextIO | None = None, info_logs: bool = False) -> int:
    """Check the options, build the server app and run the stack until Ctrl-C (``hark server``).

    Raises ``ConfigError`` (before anything starts) for bad options; returns 0 after Ctrl-C or
    SIGTERM, 1 when a part died. Other ``HARK_SERVER__*`` settings come from the environment.
    ``info_logs`` turns the root logger to INFO once ``--listen`` and ``--api-key-file`` are
    there: a server shows its requests and state (``hark server -v`` sets its own level).
    """
    if args.listen is None or args.api_key_file is None:
        raise ConfigError(
            ConfigCode.SERVER_ARGS_MISSING,
            "give --listen HOST:PORT and --api-key-file FILE (see `hark server --help`).",
        )
    if info_logs:
        logging.getLogger().setLevel(logging.INFO)
    listen, api_key_file = args.listen, args.api_key_file
    data_dir = args.data_dir
    settings = _server_settings(api_key_file, args.ollama_url, args.whisper_model)
    if args.domain is not None and data_dir is None:
        # Keep a domain's certificates across restarts (the ACME CA limits new ones).
        data_dir = hark_data_dir() / "server-edge"
    options = check_options(
        listen,
        api_key_file,
        tls_cert=args.tls_cert,
        tls_key=args.tls_key,
        no_tls=args.no_tls,
        domain=args.domain,
        insecure_public=args.insecure_public,
        acme_email=args.acme_email,
        data_dir=data_dir,
        max_body_bytes=settings.max_upload_bytes,
        startup_timeout_s=args.startup_timeout_s,
    )
    from remote.server.app import create_app  # FastAPI and the speech stack: only to serve

    app = create_app(settings)
    stream = out or sys.stderr
    if args.no_tls and not options.listen.is_loopback:
        log.warning("serving without TLS on %s: the API key travels in clear text", options.listen)

    def ready(url: str) -> None:
        print(f"Hark server ready at {url}", file=stream)
        if options.cert is not None:
            print(
                f"  certificate to pin: {options.cert.cert_path.resolve()}\n"
                f"  SHA-256 {options.cert.fingerprint_sha256}",
                file=stream,
            )
        print("  Ctrl-C stops it.", file=stream, flush=True)

    return asyncio.run(run_stack(options, app, on_ready=ready))


def _server_settings(
    api_key_file: Path, ollama_url: str | None, whisper_model: str | None
) -> ServerSettings:
    given: dict[str, Any] = {"api_key_file": api_key_file}
    if ollama_url is not None:
        given["ollama_url"] = ollama_url
    if whisper_model is not None:
        given["whisper_model"] = whisper_model
    try:
        return ServerSettings(**given)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'settings'}: {e['msg']}" for e in exc.errors()
        )
        raise ConfigError(
            ConfigCode.SERVER_SETTINGS_INVALID,
            f"the server settings are not valid: {problems} (check the options and the "
            "HARK_SERVER__* environment variables).",
        ) from exc


def cert_hosts(listen: Listen | None) -> list[str]:
    """Names for a new certificate's subjectAltName: the listen address, this host, loopback."""
    hosts = []
    if listen is not None and not ipaddress.ip_address(listen.host).is_unspecified:
        hosts.append(listen.host)
    hosts += ["localhost", "127.0.0.1", "::1", socket.gethostname()]
    return hosts


def make_cert(directory: Path, listen: str | None, out: TextIO) -> CertInfo:
    """``hark server --make-cert DIR``: a new self-signed pair, and what to pin."""
    where = parse_listen(listen) if listen else None
    info = write_self_signed(directory, cert_hosts(where))
    print(
        f"certificate: {info.cert_path.resolve()}  (pin this file in Hark: remote.ca_cert)\n"
        f"key:         {info.key_path.resolve()}  (mode 0600; keep it on the server)\n"
        f"SHA-256:     {info.fingerprint_sha256}\n"
        f"names:       {', '.join(info.names)}",
        file=out,
    )
    return info


def make_key(path: Path, out: TextIO) -> None:
    """``hark server --make-key FILE``: a new random API key in a 0600 file."""
    write_api_key_file(path)
    print(
        f"API key written to {path.resolve()} (mode 0600). Give the same key to Hark on "
        f"your computer: `hark secret set server-api-key < {path}`.",
        file=out,
    )
