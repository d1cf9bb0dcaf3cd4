"""The privacy-leak corpus (issue 8): identities, addresses, paths and secrets that must never leave a process
nor reach the store, whatever field a host app or a sender puts them in.

Each `Leak` has the value pushed in and the needles searched for afterwards: the value itself and a fragment
of it that nothing legitimate contains (so a half-scrubbed value is caught too). The local user and host name
are `local=True`: only the SDK can know them (a collector cannot tell a bare user name from an app name), and a
short one ("vm", "root") is only searched as a whole value, never as a substring of unrelated bytes.
"""

from __future__ import annotations

import contextlib
import getpass
import json
import socket
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

#: A needle shorter than this is compared to whole string values only.
SHORT = 6


@dataclass(frozen=True)
class Leak:
    kind: str
    value: str
    needles: tuple[str, ...]
    local: bool = False  # the machine's own user or host name

    @property
    def name(self) -> str:
        return f"{self.kind}:{self.value[:40]}"


def _leak(kind: str, value: str, *fragments: str) -> Leak:
    return Leak(kind, value, (value, *fragments))


_JWT = ("eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJsZWFrLTQyIiwibmFtZSI6IkNhcm9sIn0."
        "Q2hPgK3xV7nL0mR8sT1uW4yZ6aB9cD2eF5gH8iJ1kL0")

CORPUS: tuple[Leak, ...] = (
    # identities
    _leak("email", "carol.leak@example.org", "carol.leak@", "example.org"),
    _leak("email", "mail dave+telemetry@corp-leak.example.com now", "dave+telemetry", "corp-leak"),
    _leak("email", "ERIN.LEAK@EXAMPLE.NET", "ERIN.LEAK", "erin.leak"),
    _leak("username", "john.leakdoe", "leakdoe"),
    _leak("hostname", "db7.leakcorp.example.com", "leakcorp"),
    _leak("hostname", "gpu-leak-box.internal", "gpu-leak-box"),
    # addresses
    _leak("ipv4", "203.0.113.45", "203.0.113.45"),
    _leak("ipv4", "from 198.51.100.23:8443", "198.51.100.23"),
    _leak("ipv4", "10.11.12.13", "10.11.12.13"),
    _leak("ipv6", "2001:db8:85a3::8a2e:370:7334", "8a2e:370:7334"),
    _leak("ipv6", "2001:0db8:0000:0000:0000:ff00:0042:8329", "ff00:0042:8329"),
    _leak("ipv6", "fe80::1ff:fe23:4567:890a", "fe23:4567"),
    _leak("ipv6", "::ffff:192.0.2.128", "192.0.2.128"),
    _leak("ipv6", "[2001:db8::bad:1]:443", "db8::bad"),
    _leak("mac", "00:1a:2b:3c:4d:5e", "3c:4d:5e"),
    _leak("mac", "A4-5E-60-C2-11-9F", "C2-11-9F"),
    # URLs and paths
    _leak("url", "https://intranet.leakcorp.example/models?id=7", "intranet.leakcorp", "leakcorp"),
    _leak("url", "http://10.9.8.7:8000/run", "10.9.8.7"),
    _leak("url", "s3://acme-leak-bucket/models/fraud.onnx", "acme-leak-bucket"),
    _leak("url", "file:///etc/leak-passwd", "leak-passwd"),
    _leak("path", "/home/leakuser/models/fraud.onnx", "leakuser"),
    _leak("path", "~/leak-secrets/model.onnx", "leak-secrets"),
    _leak("path", "/Users/leakmac/Documents/m.onnx", "leakmac"),
    _leak("path", r"C:\Users\leakwin\model.onnx", "leakwin"),
    _leak("path", r"\\leakserver\share\m.onnx", "leakserver"),
    # secrets
    _leak("aws_key", "AKIAIOSFODNN7LEAKEXA", "IOSFODNN7LEAK"),
    _leak("aws_secret", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYLEAKEXAMPLEKEY", "bPxRfiCYLEAK"),
    _leak("api_key", "sk-proj-Leak7f3kQ9zR2mX8vB1nC4tY6uW0", "Leak7f3kQ9zR2"),
    _leak("api_key", "sk_live_51LeakH2eZvKYlo2C9b1xq3Tt", "51LeakH2eZvKYlo"),
    _leak("api_key", "ghp_Leak16C7e42F292c6912E7710c838347Ae1", "Leak16C7e42F"),
    _leak("api_key", "xoxb-1234567890-leak0987654321-AbCdEfGhIj", "leak0987654321"),
    _leak("api_key", "AIzaSyLeak-9fKq2Zr7Vb3Nm5Xc1Wd8Ye4Tg6", "SyLeak-9fKq2Zr7"),
    _leak("jwt", _JWT, "eyJzdWIiOiJsZWFrLTQyIiwibmFtZSI6IkNhcm9sIn0", "Q2hPgK3xV7nL0mR8"),
    _leak("bearer", "Bearer leakTok3n.abcdef0123456789", "leakTok3n"),
    _leak("password", "password=hunter2-leak", "hunter2-leak"),
    _leak("password", "db_password: Sup3rLeak!", "Sup3rLeak"),
    _leak("card", "4111 1111 1111 1111", "4111 1111 1111 1111", "4111111111111111"),
    _leak("card", "5500-0000-0000-0004", "5500-0000-0000-0004", "5500000000000004"),
    _leak("card", "378282246310005", "378282246310005"),
)


def local_identities() -> tuple[Leak, ...]:
    """This machine's user name and host name (short and full), as the SDK can recognise them."""
    names: dict[str, str] = {}
    with contextlib.suppress(Exception):  # getuser raises different errors per platform: then no name to test
        names[getpass.getuser()] = "local_user"
    host = socket.gethostname()
    names.setdefault(host, "local_host")
    names.setdefault(host.split(".")[0], "local_host")
    return tuple(Leak(kind, value, (value,), local=True) for value, kind in names.items() if value)


def embedded(leak: Leak) -> Leak:
    """The same value inside ordinary words, as it would arrive in a free-text field."""
    return Leak(leak.kind + "_embedded", f"run {leak.value} done", leak.needles, leak.local)


def sdk_corpus() -> tuple[Leak, ...]:
    """Everything the SDK must keep in: the corpus, each value alone and embedded, and the local identities."""
    return (*CORPUS, *(embedded(leak) for leak in CORPUS), *local_identities())


def strings_in(document: Any) -> Iterator[str]:
    """Every key and string value of a JSON document, at any depth."""
    stack = [document]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            yield item
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def leaks_in_strings(strings: Iterable[str], corpus: Iterable[Leak]) -> list[str]:
    """`name: needle` for each needle of the corpus found in one of `strings` (short needles: whole values)."""
    values = list(strings)
    lowered = [v.lower() for v in values]
    found = []
    for leak in corpus:
        for needle in leak.needles:
            if len(needle) < SHORT:
                hit = any(v.strip().lower() == needle.lower() for v in values)
            else:
                hit = any(needle.lower() in v for v in lowered)
            if hit:
                found.append(f"{leak.name}: {needle!r}")
    return found


def leaks_in_bytes(data: bytes, corpus: Iterable[Leak]) -> list[str]:
    """`name: needle` for each needle (of SHORT characters or more) found in raw bytes: files, logs, the WAL.

    Searched as UTF-8 and as JSON-escaped text (a backslash path is stored doubled in JSON), any case."""
    lowered = data.lower()
    found = []
    for leak in corpus:
        for needle in leak.needles:
            if len(needle) < SHORT:
                continue
            forms = {needle.lower().encode(), json.dumps(needle)[1:-1].lower().encode()}
            if any(form in lowered for form in forms):
                found.append(f"{leak.name}: {needle!r}")
    return found
