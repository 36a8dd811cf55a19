"""Whether the PEM files named for TLS to Temporal can serve, checked when the settings are
read: a wrong path or a swapped file otherwise shows only as an opaque handshake error at
the first connection, or worse, as a connection that quietly fell back to plaintext.

Each check raises `TlsFileError` with the reason alone; the settings validator adds the
variable's name and what to do. The standard library's `ssl` parses the files (the same
OpenSSL rules the PEM was most likely written with), so nothing is hand-parsed beyond
telling one PEM block label from another.
"""

from __future__ import annotations

import re
import ssl
from pathlib import Path

_LABEL = re.compile(rb"-----BEGIN ([A-Z0-9 ]+)-----")
_SOURCE_LINE = re.compile(r"\s*\(_ssl\.c:\d+\)$")


class TlsFileError(ValueError):
    """The file cannot serve; the message says why (without the variable's name)."""


def read(path: Path) -> bytes:
    """The file's bytes, or why it cannot be read (shown with the absolute path)."""
    shown = path.absolute()
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise TlsFileError(f"there is no file {shown}") from None
    except IsADirectoryError:
        raise TlsFileError(f"{shown} is a directory, not a file") from None
    except PermissionError:
        raise TlsFileError(
            f"{shown} cannot be read by this process (permission denied): make it readable "
            f"by the user the process runs as"
        ) from None
    except OSError as exc:
        raise TlsFileError(f"{shown} cannot be read: {exc.strerror}") from None


def labels(data: bytes) -> list[str]:
    """The labels of the PEM blocks in `data` ("CERTIFICATE", "PRIVATE KEY", ...)."""
    return [m.group(1).decode() for m in _LABEL.finditer(data)]


def certificates(path: Path) -> bytes:
    """The file's bytes when it holds one or more PEM certificates that parse."""
    data = read(path)
    found = labels(data)
    if "CERTIFICATE" not in found:
        if any(label.endswith("PRIVATE KEY") for label in found):
            raise TlsFileError(f"{path.absolute()} holds a private key, not a certificate")
        raise TlsFileError(
            f"{path.absolute()} holds no PEM certificate (a '-----BEGIN CERTIFICATE-----' "
            f"block); a DER file converts with `openssl x509 -inform der -in FILE -out "
            f"FILE.pem`"
        )
    try:
        # Parses every certificate in the file; a truncated or garbled block fails here.
        ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT).load_verify_locations(
            cadata=data.decode("ascii", errors="replace")
        )
    except ssl.SSLError as exc:
        raise TlsFileError(
            f"{path.absolute()} has a certificate block that does not parse ({_why(exc)})"
        ) from None
    return data


def private_key(path: Path) -> bytes:
    """The file's bytes when it holds an unencrypted PEM private key."""
    data = read(path)
    found = labels(data)
    if "ENCRYPTED PRIVATE KEY" in found or b"Proc-Type: 4,ENCRYPTED" in data:
        raise TlsFileError(
            f"{path.absolute()} is encrypted with a passphrase, which the Temporal client "
            f"cannot take: decrypt it (`openssl pkey -in KEY -out KEY.plain`) and keep the "
            f"plain file readable by this process only"
        )
    if not any(label.endswith("PRIVATE KEY") for label in found):
        if "CERTIFICATE" in found:
            raise TlsFileError(f"{path.absolute()} holds a certificate, not a private key")
        raise TlsFileError(
            f"{path.absolute()} holds no PEM private key (a '-----BEGIN PRIVATE KEY-----' block)"
        )
    return data


def check_pair(cert: Path, key: Path) -> None:
    """The key is the certificate's own (OpenSSL compares their public halves)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    try:
        # A password given (empty) keeps OpenSSL from prompting on a terminal.
        context.load_cert_chain(cert, key, password=b"")
    except ssl.SSLError as exc:
        if exc.reason == "KEY_VALUES_MISMATCH":
            raise TlsFileError(
                f"{key.absolute()} is not the private key of the certificate in {cert.absolute()}"
            ) from None
        raise TlsFileError(
            f"{key.absolute()} does not load with the certificate {cert.absolute()} ({_why(exc)})"
        ) from None


def _why(exc: ssl.SSLError) -> str:
    """OpenSSL's reason, without CPython's source line."""
    return exc.reason or _SOURCE_LINE.sub("", str(exc.args[-1]))
