# -*- test-case-name: tests.test_secrets -*-
"""
Secrets never printed: the one place that hides them in text gor writes.

Every component name, log line and usage error that holds a URL given by the
user goes through L{redactURL} (a value known to be a URL) or L{redactText}
(any text that may contain some), so C{http://alice:secret@host} is shown
as C{http://alice:***@host}: the user is kept (it tells targets apart), the
password is hidden. Secrets that are not in URLs (Kafka SASL passwords, for
instance) get their own helper here when they arrive.
"""

from __future__ import annotations

import re
from typing import Final

MASK: Final = "***"
"""What a hidden secret is shown as."""

_USERINFO: Final = r"(?P<user>[^\s:/?#@'\"]*):(?P<password>[^\s/?#'\"]*)@"
"""User, then the password up to the authority's last C{@} (as C{urlsplit}
reads C{http://a:p@ss@host}); the password may hold C{:} and C{@}."""

_URL_PREFIX = re.compile(r"^(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)?" + _USERINFO)

_IN_TEXT = re.compile(
    # With a scheme anywhere, or without one at the start of a word
    # (C{--output-http alice:pw@host} takes scheme-less URLs).
    r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)" + _USERINFO + r"|(?<![\w.:/@-])" + _USERINFO.replace("?P<", "?P<s")
)


_BASIC = re.compile(r"(?i)(authorization['\"]?\s*[:=,]\s*['\"]?basic\s+)[A-Za-z0-9+/=_-]+")
"""An C{Authorization: Basic} credential (C{--output-ws} sends one), as a
header line or in a logged dict."""


def redactURL(url: str) -> str:
    """
    C{url} with the password of its userinfo replaced by L{MASK}.

    The scheme is optional (C{alice:pw@host:80} as C{--output-http} takes it);
    a URL without a password is returned unchanged.
    """
    match = _URL_PREFIX.match(url)
    if match is None:
        return url
    return f"{match.group('scheme') or ''}{match.group('user')}:{MASK}@{url[match.end():]}"


def _mask(match: re.Match[str]) -> str:
    if match.group("scheme") is not None:
        return f"{match.group('scheme')}{match.group('user')}:{MASK}@"
    return f"{match.group('suser')}:{MASK}@"


def redactText(text: str) -> str:
    """
    C{text} with the password of every URL in it, and every Basic
    credential, replaced by L{MASK}.
    """
    if "asic" in text:
        text = _BASIC.sub(lambda m: m.group(1) + MASK, text)
    if "@" not in text:
        return text
    return _IN_TEXT.sub(_mask, text)


class RedactingFile:
    """
    A text file wrapper that redacts what is written to it (for log observers
    writing to stderr or a log file).

    @ivar wrapped: the file written to.
    """

    def __init__(self, wrapped: object) -> None:
        self.wrapped = wrapped

    def write(self, text: str) -> int:
        """
        Write C{text}, redacted.
        """
        self.wrapped.write(redactText(text))  # type: ignore[attr-defined]
        return len(text)

    def flush(self) -> None:
        """
        Flush the wrapped file.
        """
        self.wrapped.flush()  # type: ignore[attr-defined]
