"""Test certificates, made with the ``openssl`` command line in a folder of the
test session (nothing is committed, nothing outlives the run).

``make_certs(folder)`` writes (EC P-256 keys, SHA-256 signatures):

=====================  ===================================================
``ca``                 the test CA (self-signed, CA:true)
``server``             localhost + 127.0.0.1 (+ ::1), signed by the CA
``client``             a client certificate (clientAuth), signed by the CA
``expired``            localhost + 127.0.0.1, signed by the CA, valid in 2020 only
``self_signed``        localhost + 127.0.0.1, self-signed
``other_host``         other.example only, signed by the CA
``rogue_client``       a client certificate signed by nobody the server trusts
=====================  ===================================================

Each is a ``Pair`` (``cert``, ``key``: paths as str); ``wrong_key`` is a key
matching none of them.  Helpers build ``ssl.SSLContext`` objects for the
``websockets`` clients and servers of the tests, and start example servers
with extra environment (the demo's self-signed default certificate lives in
``$XDG_CACHE_HOME``, which tests point at a temporary folder).
"""

from __future__ import annotations

import os
import shutil
import ssl
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from servers import ROOT, Server, asan_build
from support.net import free_port

SAN_LOCAL = "DNS:localhost,IP:127.0.0.1,IP:::1"

CA_CONFIG = """\
[ ca ]
default_ca = test_ca
[ test_ca ]
dir = {dir}
database = $dir/index.txt
new_certs_dir = $dir/newcerts
serial = $dir/serial
default_md = sha256
policy = anything
unique_subject = no
email_in_dn = no
[ anything ]
commonName = supplied
"""


@dataclass(frozen=True)
class Pair:
    cert: str
    key: str


@dataclass(frozen=True)
class Certs:
    folder: Path
    ca: Pair
    server: Pair
    client: Pair
    expired: Pair
    self_signed: Pair
    other_host: Pair
    rogue_client: Pair
    wrong_key: str

    def client_context(self, ca: str | None = None, cert: Pair | None = None) -> ssl.SSLContext:
        """An SSLContext for a client trusting ``ca`` (default: the test CA),
        presenting ``cert`` if given; host names are checked."""
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.load_verify_locations(ca or self.ca.cert)
        if cert is not None:
            ctx.load_cert_chain(cert.cert, cert.key)
        return ctx

    def server_context(self, pair: Pair) -> ssl.SSLContext:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(pair.cert, pair.key)
        return ctx


def openssl_exe() -> str | None:
    return shutil.which("openssl")


def _run(folder: Path, *args: str) -> None:
    p = subprocess.run(
        [openssl_exe() or "openssl", *args],
        cwd=folder,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )
    if p.returncode != 0:
        raise RuntimeError(f"openssl {' '.join(args)} failed:\n{p.stdout}{p.stderr}")


def _key(folder: Path, name: str) -> str:
    _run(folder, "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
         "-out", f"{name}.key")  # fmt: skip
    return str(folder / f"{name}.key")


def _self_signed(folder: Path, name: str, cn: str, extensions: list[str], days: int = 3650) -> Pair:
    key = _key(folder, name)
    ext: list[str] = []
    for e in extensions:
        ext += ["-addext", e]
    _run(folder, "req", "-x509", "-new", "-key", key, "-out", f"{name}.pem", "-days", str(days),
         "-subj", f"/CN={cn}", "-sha256", *ext)  # fmt: skip
    return Pair(str(folder / f"{name}.pem"), key)


def _signed(
    folder: Path,
    name: str,
    cn: str,
    extensions: str,
    start: str | None = None,
    end: str | None = None,
) -> Pair:
    """A certificate signed by the CA in ``folder`` (``openssl ca``, which can
    also date it in the past)."""
    key = _key(folder, name)
    _run(folder, "req", "-new", "-key", key, "-out", f"{name}.csr", "-subj", f"/CN={cn}")
    (folder / f"{name}.ext").write_text(extensions)
    dates = ["-startdate", start, "-enddate", end] if start and end else ["-days", "3650"]
    _run(folder, "ca", "-batch", "-config", "ca.cnf", "-cert", "ca.pem", "-keyfile", "ca.key",
         "-in", f"{name}.csr", "-out", f"{name}.pem", "-extfile", f"{name}.ext", "-notext",
         *dates)  # fmt: skip
    return Pair(str(folder / f"{name}.pem"), key)


def make_certs(folder: Path) -> Certs:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "newcerts").mkdir(exist_ok=True)
    (folder / "index.txt").write_text("")
    (folder / "serial").write_text("1000\n")
    (folder / "ca.cnf").write_text(CA_CONFIG.format(dir=folder))

    ca = _self_signed(
        folder,
        "ca",
        "pylws test CA",
        ["basicConstraints=critical,CA:true", "keyUsage=critical,keyCertSign,cRLSign"],
    )
    server_ext = (
        "basicConstraints=CA:false\nkeyUsage=critical,digitalSignature\n"
        f"extendedKeyUsage=serverAuth\nsubjectAltName={SAN_LOCAL}\n"
    )
    server = _signed(folder, "server", "localhost", server_ext)
    client = _signed(
        folder,
        "client",
        "pylws test client",
        "basicConstraints=CA:false\nkeyUsage=critical,digitalSignature\n"
        "extendedKeyUsage=clientAuth\n",
    )
    expired = _signed(
        folder, "expired", "localhost", server_ext, start="20200101000000Z", end="20200201000000Z"
    )
    other_host = _signed(
        folder,
        "other_host",
        "other.example",
        "basicConstraints=CA:false\nkeyUsage=critical,digitalSignature\n"
        "extendedKeyUsage=serverAuth\nsubjectAltName=DNS:other.example\n",
    )
    self_signed = _self_signed(
        folder,
        "self_signed",
        "localhost",
        [f"subjectAltName={SAN_LOCAL}", "extendedKeyUsage=serverAuth"],
    )
    rogue_client = _self_signed(
        folder, "rogue_client", "pylws rogue client", ["extendedKeyUsage=clientAuth"]
    )
    wrong_key = _key(folder, "wrong")
    return Certs(folder, ca, server, client, expired, self_signed, other_host, rogue_client,
                 wrong_key)  # fmt: skip


# C examples may be started with SIGPIPE ignored (start_example(ignore_sigpipe=True));
# the library itself never raises SIGPIPE (its TLS socket BIO sends with MSG_NOSIGNAL).
SIGPIPE_WORKAROUND = False


def start_example(
    example: str,
    kind: str,
    *args: str,
    env: dict[str, str] | None = None,
    ignore_sigpipe: bool | None = None,
) -> Server:
    """Start examples/<example>.py (kind "python") or the sanitized C build of
    it (kind "c") on a free port of 127.0.0.1, with ``env`` added to the
    environment; stopped (and checked) by ``Server.stop()``.  ``ignore_sigpipe``
    (default SIGPIPE_WORKAROUND) starts the C one with SIGPIPE ignored."""
    port = free_port()
    full = dict(os.environ)
    full.update(env or {})
    if kind == "c":
        exe = asan_build() / example
        argv = [str(exe)]
        if SIGPIPE_WORKAROUND if ignore_sigpipe is None else ignore_sigpipe:
            # the shell sets SIG_IGN and becomes the server (same PID)
            argv = ["/bin/sh", "-c", 'trap "" PIPE; exec "$@"', "sh", str(exe)]
        full["ASAN_OPTIONS"] = "detect_leaks=1:abort_on_error=0:exitcode=99"
        full["UBSAN_OPTIONS"] = "print_stacktrace=1:halt_on_error=1:exitcode=98"
    else:
        argv = [sys.executable, str(ROOT / "examples" / f"{example}.py")]
    argv += ["--port", str(port), "--interface", "127.0.0.1", *args]
    server = Server(f"{example}-{kind}", argv, port, full)
    server.url = f"wss://127.0.0.1:{port}"
    return server
