"""A local SMTP server (aiosmtpd, a development dependency) that requires STARTTLS with a
self-signed certificate made at start in a temporary folder (never committed) and, optionally,
AUTH with one user; it records every message. For the e-mail alert tests: never a real relay.

    with LocalSmtp(user="alerts", password="pw") as smtp:
        ...  # SMTP_HOST=smtp.host, SMTP_PORT=smtp.port, SMTP_CA_FILE=smtp.ca_file
        smtp.messages[0]["Subject"]
"""
from __future__ import annotations

import datetime as dt
import ipaddress
import socket
import ssl
import tempfile
import threading
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any


def self_signed(folder: Path, host: str = "127.0.0.1") -> tuple[Path, Path]:
    """(certificate, key) PEM files for `host` and localhost, valid for a day."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "local-smtp test")])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"),
                                                        x509.IPAddress(ipaddress.ip_address(host))]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    key_path.chmod(0o600)
    return cert_path, key_path


class LocalSmtp:
    def __init__(self, user: str | None = None, password: str | None = None, host: str = "127.0.0.1",
                 require_starttls: bool = True):
        self.host, self.user, self.password = host, user, password
        self.require_starttls = require_starttls
        self.messages: list[EmailMessage] = []
        self.envelopes: list[dict[str, Any]] = []
        self.logins: list[str] = []
        self.fail_next: list[tuple[int, str]] = []       # (code, text) for the next DATA commands
        self._lock = threading.Lock()
        self._dir = tempfile.TemporaryDirectory(prefix="local-smtp-")
        self.ca_file, self._key = self_signed(Path(self._dir.name), host)
        self.controller: Any = None

    @property
    def port(self) -> int:
        return self.controller.port

    def fail(self, count: int, code: int = 451, text: str = "4.3.0 try again later") -> None:
        with self._lock:
            self.fail_next += [(code, text)] * count

    def start(self) -> "LocalSmtp":
        from aiosmtpd.controller import Controller
        from aiosmtpd.smtp import AuthResult

        outer = self

        class Handler:
            async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
                with outer._lock:
                    if outer.fail_next:
                        code, text = outer.fail_next.pop(0)
                        return f"{code} {text}"
                    outer.envelopes.append({"from": envelope.mail_from, "to": list(envelope.rcpt_tos),
                                            "tls": session.ssl is not None})
                    outer.messages.append(message_from_bytes(envelope.content, policy=policy.default))
                return "250 OK"

        def authenticate(server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> Any:
            ok = (outer.user is not None and auth_data.login.decode() == outer.user
                  and auth_data.password.decode() == outer.password)
            if ok:
                with outer._lock:
                    outer.logins.append(auth_data.login.decode())
            return AuthResult(success=ok)

        tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        tls.load_cert_chain(self.ca_file, self._key)
        with socket.socket() as probe:        # aiosmtpd's readiness check needs the real port
            probe.bind((self.host, 0))
            port = probe.getsockname()[1]
        self.controller = Controller(Handler(), hostname=self.host, port=port, tls_context=tls,
                                     require_starttls=self.require_starttls, authenticator=authenticate,
                                     auth_required=self.user is not None, auth_require_tls=True)
        self.controller.start()
        return self

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
        self._dir.cleanup()

    def __enter__(self) -> "LocalSmtp":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
