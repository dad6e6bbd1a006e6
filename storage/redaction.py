"""Secrets kept out of every message: the secrets this process holds, each in every encoding a server,
a proxy or a tool could echo back, and one scrubber that every output goes through.

The config loader registers each secret it reads (tokens, passwords, client secrets, S3 keys, the
password inside a URL); the console, the JSON output and the log formatters scrub what they write.
A secret is also looked for as it travels: percent-encoded, JSON-escaped, in base64 (standard and
URL-safe, padded or not), and with its username as HTTP Basic sends it (``base64(user:password)``).

A secret shorter than ``SHORT`` characters is masked only where it stands alone (not inside a longer
word), so a four-character token cannot turn "connection refused" into "connec***ion refused". One
shorter than ``MIN_LENGTH`` is not masked at all: masking every standalone ``x`` or ``ab`` would corrupt
the dashboards ``show`` prints, and so short a secret protects nothing anyway.
"""

from __future__ import annotations

import base64
import json
import re
import threading
from urllib.parse import quote, quote_plus, urlsplit, urlunsplit

MASK = "***"
SHORT = 8
MIN_LENGTH = 4


def _b64(raw: str) -> list[str]:
    data = raw.encode()
    out = []
    for enc in (base64.b64encode(data).decode(), base64.urlsafe_b64encode(data).decode()):
        out += [enc, enc.rstrip("=")]
    return out


def encodings(secret: str, username: str | None = None) -> set[str]:
    """The forms in which `secret` may show up in a message."""
    forms = {secret, quote(secret, safe=""), quote_plus(secret), json.dumps(secret)[1:-1], *_b64(secret)}
    if username:
        forms.update(_b64(f"{username}:{secret}"))
    return {f for f in forms if f}


class Redactor:
    """The secrets one process holds, and the scrubbing of them out of a text."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._long: set[str] = set()
        self._longest_first: tuple[str, ...] = ()  # so a form inside a longer one is not cut first
        self._short: set[str] = set()
        self._pattern: re.Pattern[str] | None = None

    def register(self, secret: str | None, *, username: str | None = None) -> None:
        """Remember a secret (and its encodings) so that `scrub` masks it from now on."""
        if not secret or len(secret) < MIN_LENGTH:
            return
        with self._lock:
            for form in encodings(secret, username):
                (self._short if len(form) < SHORT else self._long).add(form)
            self._longest_first = tuple(sorted(self._long, key=len, reverse=True))
            if self._short:
                alternatives = "|".join(re.escape(s) for s in sorted(self._short, key=len, reverse=True))
                self._pattern = re.compile(rf"(?<![A-Za-z0-9])(?:{alternatives})(?![A-Za-z0-9])")

    def forget_all(self) -> None:
        """Drop every registered secret."""
        with self._lock:
            self._long.clear()
            self._longest_first = ()
            self._short.clear()
            self._pattern = None

    def scrub(self, text: str) -> str:
        """`text` with every registered secret, in each of its encodings, replaced by ``***``."""
        with self._lock:
            longs, pattern = self._longest_first, self._pattern
        for secret in longs:
            if secret in text:
                text = text.replace(secret, MASK)
        if pattern is not None:
            text = pattern.sub(MASK, text)
        return text


#: The process's secrets: what the config loader registers and every output scrubs.
SECRETS = Redactor()
register = SECRETS.register
scrub = SECRETS.scrub
forget_all = SECRETS.forget_all


def without_userinfo(url: str) -> str:
    """`url` with any ``user:password@`` replaced by ``***@``, safe to print."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    if "@" not in parts.netloc:
        return url
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{MASK}@{host}"))


def register_url(url: str) -> None:
    """Register the password (and the user with it) of a URL's user info, if it has one."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return
    if parts.password:
        register(parts.password, username=parts.username)
        # As written in the URL too (percent-encoded), which is how git echoes it.
        register(parts.netloc.rpartition("@")[0].partition(":")[2])
