# -*- test-case-name: tests.test_cli -*-
"""
Start-up failures in one line: what failed, why, and how to fix it, instead
of a traceback (C{gor} exits 2, as for a bad flag).
"""

from __future__ import annotations

import errno
import os
from typing import Any

from twisted.internet.error import CannotListenError

from twisted_gor.redact import redactText
from twisted_gor.service import StartError

_LISTEN_HINTS = {
    errno.EADDRINUSE: "another process is listening there (pick another port, or stop it)",
    errno.EACCES: "ports below 1024 need root or cap_net_bind_service",
    errno.EADDRNOTAVAIL: "this machine has no such address",
}


def describe(error: BaseException) -> str:
    """
    One line about C{error} raised while starting.
    """
    if isinstance(error, StartError):
        return redactText(f"{error.component}: {describe(error.error)}")
    if isinstance(error, CannotListenError):
        cause = error.socketError
        number = getattr(cause, "errno", None)
        reason = getattr(cause, "strerror", None) or str(cause)
        host = error.interface or "*"
        text = f"cannot listen on {host}:{error.port}: {reason}"
        hint = _LISTEN_HINTS.get(number) if isinstance(number, int) else None
        return f"{text}; {hint}" if hint else text
    if isinstance(error, OSError) and error.strerror:
        where = f": {error.filename}" if error.filename else ""
        text = f"{error.strerror}{where}"
        if error.errno in (errno.EACCES, errno.EPERM):
            text += f" (running as uid {os.getuid()}; check the permissions, or run as a user who may)"
        return text
    text = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    return text
