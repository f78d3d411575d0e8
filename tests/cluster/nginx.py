"""nginx in front of the workers, configured by docs/deploy/nginx.conf itself.

The documented site file is rendered with a few exact substitutions (worker
ports, listen addresses, the static folder; plain HTTP for the live cluster,
a throw-away certificate for `nginx -t` of the TLS server) and everything else
is used as written, so what the tests exercise is what the docs tell people to
install. A substitution that no longer matches the file fails loudly.

nginx runs as its own process with a generated main configuration in the
cluster's folder: pid, logs and temporary paths live there.
"""

import datetime
import os
import re
import shutil
from pathlib import Path

from tests.cluster.processes import Process, free_port, run, wait_for_port

ROOT = Path(__file__).resolve().parent.parent.parent
DOCUMENTED = ROOT / "docs" / "deploy" / "nginx.conf"
# Added by the harness's main configuration, never by the documented site:
# which worker answered, so a test can place a tab on a known worker.
UPSTREAM_HEADER = "X-Chatsite-Upstream"
UPSTREAM_LINE = re.compile(r"^([ \t]*)server 127\.0\.0\.1:\d+((?: [^;\n]*)?);\n", re.MULTILINE)


def binary() -> str | None:
    return shutil.which("nginx") or next(
        (path for path in ("/usr/sbin/nginx",) if os.access(path, os.X_OK)), None
    )


def render_site(
    text: str,
    *,
    workers: list[int],
    port: int,
    redirect_port: int,
    static_root: Path,
    certificate: tuple[Path, Path] | None = None,
) -> str:
    """The documented site with this machine's addresses; plain HTTP without a certificate."""
    lines = UPSTREAM_LINE.findall(text)
    if not lines:
        raise RuntimeError(f"{DOCUMENTED}: no `server 127.0.0.1:PORT ...;` line in the upstream")
    indent, parameters = lines[0]
    servers = "".join(f"{indent}server 127.0.0.1:{p}{parameters};\n" for p in workers)
    # The first documented line becomes one line per worker; the others go.
    first = iter([servers])
    text = UPSTREAM_LINE.sub(lambda _m: next(first, ""), text)
    text = _once(text, "listen 80;", f"listen 127.0.0.1:{redirect_port};")
    text = _once(text, "alias /srv/chatsite/staticfiles/;", f"alias {static_root}/;")
    if certificate is None:
        text = _once(text, "listen 443 ssl http2;", f"listen 127.0.0.1:{port};")
        text = _once_line(text, "ssl_certificate ", "")
        return _once_line(text, "ssl_certificate_key ", "")
    text = _once(text, "listen 443 ssl http2;", f"listen 127.0.0.1:{port} ssl http2;")
    text = _once_line(text, "ssl_certificate ", f"    ssl_certificate {certificate[0]};\n")
    return _once_line(text, "ssl_certificate_key ", f"    ssl_certificate_key {certificate[1]};\n")


def _once(text: str, old: str, new: str) -> str:
    if text.count(old) != 1:
        raise RuntimeError(f"{DOCUMENTED}: expected `{old.strip()}` once, found {text.count(old)}")
    return text.replace(old, new)


def _once_line(text: str, start: str, new: str) -> str:
    pattern = re.compile(rf"^[ \t]*{re.escape(start)}[^\n]*\n", re.MULTILINE)
    if len(pattern.findall(text)) != 1:
        raise RuntimeError(f"{DOCUMENTED}: expected one `{start.strip()}` line")
    return pattern.sub(lambda _m: new, text)


def main_config(folder: Path, site: Path, *, connections: int = 4096) -> str:
    """The part Debian's /etc/nginx/nginx.conf plays, pointed at `folder`."""
    temp = {name: folder / name for name in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")}
    temp_paths = "".join(f"    {name}_temp_path {path};\n" for name, path in temp.items())
    return (
        f"pid {folder / 'nginx.pid'};\n"
        f"error_log {folder / 'error.log'} notice;\n"
        "worker_processes 1;\n"
        f"worker_rlimit_nofile {connections * 2};\n"
        f"events {{ worker_connections {connections}; }}\n"
        "http {\n"
        "    include /etc/nginx/mime.types;\n"
        "    default_type application/octet-stream;\n"
        "    log_format cluster '$remote_addr \"$request\" $status $request_id '\n"
        "                       '$upstream_addr $request_time';\n"
        f"    access_log {folder / 'access.log'} cluster;\n"
        f"{temp_paths}"
        f"    add_header {UPSTREAM_HEADER} $upstream_addr always;\n"
        f"    include {site};\n"
        "}\n"
    )


class Nginx:
    """nginx on a free port of 127.0.0.1, proxying to the given worker ports."""

    def __init__(self, folder: Path, *, workers: list[int], static_root: Path) -> None:
        self.folder = folder
        self.workers = workers
        self.static_root = static_root
        self.port, self.redirect_port = free_port(), free_port()
        self.process: Process | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws/chat/"

    def write(self, certificate: tuple[Path, Path] | None = None) -> Path:
        """Write the site and main configuration; the main file's path."""
        self.folder.mkdir(parents=True, exist_ok=True)
        self.folder.chmod(0o755)  # nginx's workers drop root and must reach their files
        site = self.folder / ("chatsite-tls.conf" if certificate else "chatsite.conf")
        site.write_text(
            render_site(
                DOCUMENTED.read_text(),
                workers=self.workers,
                port=self.port,
                redirect_port=self.redirect_port,
                static_root=self.static_root,
                certificate=certificate,
            )
        )
        main = self.folder / ("nginx-tls.conf" if certificate else "nginx.conf")
        main.write_text(main_config(self.folder, site))
        return main

    def test(self, main: Path) -> str:
        """`nginx -t` of a configuration: its report, or an error that shows it."""
        return run([self._binary(), "-t", "-q", "-p", str(self.folder), "-c", str(main)])

    def start(self) -> "Nginx":
        main = self.write()
        self.test(main)
        command = [self._binary(), "-p", str(self.folder), "-c", str(main), "-g", "daemon off;"]
        self.process = Process("nginx", command, self.folder / "nginx.out").start()
        wait_for_port(self.port, 10, self.process)
        return self

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()

    def error_log(self) -> str:
        path = self.folder / "error.log"
        return path.read_text(errors="replace")[-5000:] if path.exists() else ""

    @staticmethod
    def _binary() -> str:
        found = binary()
        if found is None:
            raise RuntimeError("nginx is not installed (Debian: apt-get install nginx)")
        return found


def self_signed_certificate(folder: Path, host: str = "chat.example.com") -> tuple[Path, Path]:
    """A throw-away certificate and key, enough for `nginx -t` of the TLS server."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "fullchain.pem", folder / "privkey.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path
