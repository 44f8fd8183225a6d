"""--ssl for the example servers: their TLS options and the default certificate.

``--ssl`` serves https:// and wss:// with the certificate and key of ``--cert``
and ``--key`` (PEM files; giving them implies ``--ssl``).  Without them the
examples use a self-signed certificate for localhost / 127.0.0.1 / ::1, made on
first use with the ``openssl`` command into the user's cache folder and kept
for the next runs (delete the two files to get a new one):

    ${XDG_CACHE_HOME:-~/.cache}/pylws/localhost-cert.pem
    ${XDG_CACHE_HOME:-~/.cache}/pylws/localhost-key.pem

made with (the command printed when it runs):

    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -sha256
        -days 825 -subj /CN=localhost
        -addext subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1
        -keyout localhost-key.pem -out localhost-cert.pem

Browsers warn about a self-signed certificate: accept it once, or trust the
certificate file.  The C examples do the same (examples/example-tls.h).
"""

from __future__ import annotations

import argparse
import os
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import pylws_ffi as lws

CERT_NAME, KEY_NAME = "localhost-cert.pem", "localhost-key.pem"


def add_arguments(ap: argparse.ArgumentParser, client_certs: bool = False) -> None:
    ap.add_argument(
        "-s",
        "--ssl",
        action="store_true",
        help="serve https:// and wss:// (default certificate: a self-signed one for "
        "localhost, made on first use in ~/.cache/pylws)",
    )
    ap.add_argument("--cert", help="the server's certificate (chain), PEM; implies --ssl")
    ap.add_argument("--key", help="its private key, PEM; implies --ssl")
    if client_certs:
        ap.add_argument("--ca", help="CA certificates (PEM) that client certificates must chain to")
        ap.add_argument(
            "--require-client-cert",
            action="store_true",
            help="refuse clients without a valid certificate (needs --ca)",
        )


def cache_folder() -> Path:
    base = os.environ.get("XDG_CACHE_HOME")
    if not base or not os.path.isabs(base):
        base = os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "pylws"


def openssl_command(key: str, cert: str) -> list[str]:
    return [
        "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
        "-nodes", "-sha256", "-days", "825", "-subj", "/CN=localhost",
        "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1",
        "-keyout", key, "-out", cert,
    ]  # fmt: skip


def default_certificate(prog: str) -> tuple[str, str]:
    """The cached self-signed localhost certificate and key, made if missing."""
    folder = cache_folder()
    cert, key = folder / CERT_NAME, folder / KEY_NAME
    if cert.is_file() and key.is_file():
        print(f"{prog}: TLS with the self-signed certificate {cert}", file=sys.stderr)
        return str(cert), str(key)
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    # made under temporary names, then renamed: a concurrent start sees both or neither
    tmp_cert = folder / f".{CERT_NAME}.{os.getpid()}"
    tmp_key = folder / f".{KEY_NAME}.{os.getpid()}"
    argv = openssl_command(str(tmp_key), str(tmp_cert))
    print(
        f"{prog}: making a self-signed certificate for localhost in {folder}:\n  "
        + shlex.join(openssl_command(str(key), str(cert))),
        file=sys.stderr,
    )
    try:
        done = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
    except OSError as e:
        raise SystemExit(f"{prog}: cannot run openssl ({e}): give --cert and --key") from None
    if done.returncode != 0 or not tmp_cert.is_file() or not tmp_key.is_file():
        for f in (tmp_cert, tmp_key):
            f.unlink(missing_ok=True)
        raise SystemExit(f"{prog}: openssl failed ({done.returncode}): give --cert and --key")
    os.replace(tmp_key, key)
    os.replace(tmp_cert, cert)
    print(f"{prog}: TLS with the self-signed certificate {cert} (key {key})", file=sys.stderr)
    return str(cert), str(key)


def usage_error(message: str) -> None:
    print(message, file=sys.stderr)
    raise SystemExit(2)


def context_arguments(args: argparse.Namespace, prog: str) -> dict[str, Any]:
    """The ssl_* arguments and options of libwebsocket_create_context."""
    ca = getattr(args, "ca", None)
    require = getattr(args, "require_client_cert", False)
    if not (args.ssl or args.cert or args.key or ca or require):
        return {}
    if bool(args.cert) != bool(args.key):
        usage_error(f"{prog}: give both --cert and --key, or neither")
    if require and not ca:
        usage_error(f"{prog}: --require-client-cert needs --ca")
    cert, key = (args.cert, args.key) if args.cert else default_certificate(prog)
    return {
        "ssl_cert_filepath": cert,
        "ssl_private_key_filepath": key,
        "ssl_ca_filepath": ca,
        "options": lws.LWS_SERVER_OPTION_REQUIRE_VALID_OPENSSL_CLIENT_CERT if require else 0,
    }
