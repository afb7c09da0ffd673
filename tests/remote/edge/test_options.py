"""``hark server``'s options: checked before anything starts, with messages that say what to do."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography import x509

from app.cli.main import main
from app.shared.errors import ConfigError
from remote.server.run import check_api_key_file, check_options
from remote.server.stack import Listen, parse_listen
from remote.tls import CertInfo, fingerprint_sha256
from tests.support.servers import free_port

REPO = Path(__file__).resolve().parents[3]


@pytest.mark.parametrize(
    ("text", "host", "port"),
    [
        ("127.0.0.1:8443", "127.0.0.1", 8443),
        ("0.0.0.0:1", "0.0.0.0", 1),
        ("localhost:65535", "127.0.0.1", 65535),
        (":8443", "0.0.0.0", 8443),
        ("[::1]:8443", "::1", 8443),
        ("[::]:8443", "::", 8443),
    ],
)
def test_listen_addresses(text: str, host: str, port: int):
    assert parse_listen(text) == Listen(host, port)


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("8443", "it has no port"),
        ("example.org:8443", "is not an IP address"),
        ("127.0.0.1:0", "is not a port number"),
        ("127.0.0.1:70000", "is not a port number"),
        ("127.0.0.1:https", "is not a port number"),
        ("::1:8443", "an IPv6 address needs brackets"),
    ],
)
def test_bad_listen_addresses_say_how_to_write_one(text: str, why: str):
    with pytest.raises(ConfigError, match=why) as err:
        parse_listen(text)
    assert err.value.code == "server-listen-invalid"
    assert "write HOST:PORT, e.g. 127.0.0.1:8443" in err.value.message


def test_listen_knows_loopback_and_where_to_probe():
    assert parse_listen("127.0.0.1:1").is_loopback
    assert not parse_listen("0.0.0.0:1").is_loopback
    assert parse_listen("0.0.0.0:8443").url("https") == "https://127.0.0.1:8443"
    assert parse_listen("[::]:8443").url("https") == "https://[::1]:8443"


def write_keys(path: Path, text: str, mode: int = 0o600) -> Path:
    path.write_text(text)
    path.chmod(mode)
    return path


def test_a_good_key_file_counts_its_keys(tmp_path: Path):
    keys = write_keys(tmp_path / "k", "# comment\n" + "a" * 20 + "\n\n" + "b" * 43 + "\n")
    assert check_api_key_file(keys) == 2


@pytest.mark.parametrize(
    ("content", "mode", "code", "words"),
    [
        (None, 0o600, "api-key-file-missing", "--make-key"),
        ("x" * 20, 0o644, "secret-file-open", "chmod 600"),
        ("x" * 20, 0o640, "secret-file-open", "mode 0640"),
        ("# only a comment\n\n", 0o600, "api-key-file-empty", "one key per line"),
        ("short\n", 0o600, "api-key-too-short", "shorter than 16 characters"),
    ],
)
def test_bad_key_files_are_refused(
    tmp_path: Path, content: str | None, mode: int, code: str, words: str
):
    path = tmp_path / "keys"
    if content is not None:
        write_keys(path, content, mode)
    with pytest.raises(ConfigError, match=words) as err:
        check_api_key_file(path)
    assert err.value.code == code


def test_option_conflicts(pair: CertInfo, key_file: Path):
    listen = f"127.0.0.1:{free_port()}"
    cases = [
        ({"tls_cert": pair.cert_path}, "tls-pair-incomplete", "--tls-cert needs --tls-key"),
        ({"tls_key": pair.key_path}, "tls-pair-incomplete", "--tls-key needs --tls-cert"),
        ({}, "tls-mode-missing", "--make-cert"),
        (
            {"tls_cert": pair.cert_path, "tls_key": pair.key_path, "no_tls": True},
            "tls-mode-conflict",
            "choose one of",
        ),
        ({"domain": "a.example", "no_tls": True}, "tls-mode-conflict", "choose one of"),
        ({"domain": "https://a.example"}, "server-domain-invalid", "bare DNS name"),
    ]
    for kw, code, words in cases:
        with pytest.raises(ConfigError) as err:
            check_options(listen, key_file, **kw)  # type: ignore[arg-type]
        assert err.value.code == code, kw
        assert words in err.value.message, kw


def test_no_tls_on_a_public_address_needs_insecure_public(key_file: Path):
    listen = f"0.0.0.0:{free_port()}"
    with pytest.raises(ConfigError, match="in clear text") as err:
        check_options(listen, key_file, no_tls=True)
    assert err.value.code == "server-insecure-public"
    options = check_options(listen, key_file, no_tls=True, insecure_public=True)
    assert not options.tls
    assert options.public_url.startswith("http://127.0.0.1:")


def test_a_key_of_another_certificate_is_refused(
    pair: CertInfo, other_pair: CertInfo, key_file: Path
):
    with pytest.raises(ConfigError, match="does not belong to the certificate") as err:
        check_options(
            f"127.0.0.1:{free_port()}",
            key_file,
            tls_cert=pair.cert_path,
            tls_key=other_pair.key_path,
        )
    assert err.value.code == "tls-key-mismatch"


def test_a_busy_port_is_refused(pair: CertInfo, key_file: Path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(ConfigError, match="another server running there") as err:
            check_options(
                f"127.0.0.1:{port}", key_file, tls_cert=pair.cert_path, tls_key=pair.key_path
            )
    assert err.value.code == "server-port-busy"


def test_cli_bad_options_exit_2_with_the_message(
    key_file: Path, capsys: pytest.CaptureFixture[str]
):
    code = main(["server", "--listen", "example.org:8443", "--api-key-file", str(key_file)])
    _, err = capsys.readouterr()
    assert code == 2
    assert err.startswith("hark: --listen 'example.org:8443': 'example.org' is not an IP")
    assert "Traceback" not in err

    code = main(["server", "--listen", "127.0.0.1:8443"])
    _, err = capsys.readouterr()
    assert code == 2
    assert "give --listen HOST:PORT and --api-key-file FILE" in err


def test_cli_validation_in_a_real_process_exits_2(tmp_path: Path):
    loose = write_keys(tmp_path / "keys", "k" * 30 + "\n", 0o644)
    result = subprocess.run(
        [
            *(sys.executable, "-m", "app", "server"),
            *("--listen", f"127.0.0.1:{free_port()}", "--api-key-file", str(loose), "--no-tls"),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        env=os.environ.copy(),
    )
    assert result.returncode == 2
    assert f"run `chmod 600 {loose}`" in result.stderr
    assert "Traceback" not in result.stderr


def test_cli_make_key_writes_a_private_random_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    path = tmp_path / "keys"
    assert main(["server", "--make-key", str(path)]) == 0
    out, _ = capsys.readouterr()
    key = path.read_text().strip()
    assert len(key) == 43
    assert path.stat().st_mode & 0o777 == 0o600
    assert key not in out  # the key is not printed
    assert "hark secret set server-api-key" in out
    assert check_api_key_file(path) == 1
    assert main(["server", "--make-key", str(path)]) == 2  # never overwrites a key
    assert path.read_text().strip() == key


def test_cli_make_cert_prints_what_to_pin(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    out_dir = tmp_path / "tls"
    code = main(["server", "--listen", "192.0.2.7:8443", "--make-cert", str(out_dir)])
    out, _ = capsys.readouterr()
    assert code == 0
    cert_path, key_path = out_dir / "hark-server.pem", out_dir / "hark-server.key"
    pem = cert_path.read_bytes()
    assert f"SHA-256:     {fingerprint_sha256(pem)}" in out
    assert str(cert_path.resolve()) in out
    assert key_path.stat().st_mode & 0o777 == 0o600
    san = x509.load_pem_x509_certificate(pem).extensions.get_extension_for_class(
        x509.SubjectAlternativeName
    )
    ips = {str(ip) for ip in san.value.get_values_for_type(x509.IPAddress)}
    assert {"192.0.2.7", "127.0.0.1", "::1"} <= ips
    assert "localhost" in san.value.get_values_for_type(x509.DNSName)


def test_cli_bad_ollama_url_exits_2(key_file: Path, capsys: pytest.CaptureFixture[str]):
    code = main(
        [
            *("server", "--listen", f"127.0.0.1:{free_port()}", "--no-tls"),
            *("--api-key-file", str(key_file), "--ollama-url", "ftp://box:11434"),
        ]
    )
    _, err = capsys.readouterr()
    assert code == 2
    assert "hark: the server settings are not valid: ollama_url:" in err
    assert "is not an http(s) URL" in err
