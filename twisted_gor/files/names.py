# -*- test-case-name: tests.test_fileoutput -*-
"""
Output file names: GoReplay's C{%} tokens and the C{_N} chunk index.
"""

from __future__ import annotations

import glob
import os
import random
import re
import string
import time

from twisted_gor.message import Message

_TOKEN = re.compile(r"%(NS|[YmdHMSrti])")

INSTANCE_ID = "".join(random.choice(string.ascii_lowercase) for _ in range(8))
"""C{%i}: a random 8-letter id of this process."""


def hasTokens(template: str) -> bool:
    """
    Whether the template contains any expandable token.
    """
    return _TOKEN.search(template) is not None


def expandName(template: str, message: Message | None, now: float) -> str:
    """
    Expand C{%Y %m %d %H %M %S} (local time of C{now}), C{%NS} (nanoseconds),
    C{%r} (request id), C{%t} (message type) and C{%i} (instance id).
    """
    local = time.localtime(now)

    def token(match: re.Match[str]) -> str:
        t = match.group(1)
        if t == "NS":
            return str(int(now * 1e9) % 1_000_000_000)
        if t == "r":
            return message.id.decode("ascii", "replace") if message is not None else ""
        if t == "t":
            return str(message.type) if message is not None else ""
        if t == "i":
            return INSTANCE_ID
        return time.strftime("%" + t, local)

    return _TOKEN.sub(token, template)


def splitExtension(path: str) -> tuple[str, str]:
    """
    C{("dir/name", ".gor.gz")}-style split: C{.gz} keeps the extension before it.
    """
    root, ext = os.path.splitext(path)
    if ext == ".gz":
        root2, ext2 = os.path.splitext(root)
        if ext2:
            return root2, ext2 + ext
    return root, ext


_INDEX = re.compile(r"_(\d+)$")


def chunkIndex(path: str) -> int:
    """
    The C{_N} index of a chunk name, or -1.
    """
    root, _ = splitExtension(path)
    m = _INDEX.search(root)
    return int(m.group(1)) if m else -1


def withChunkIndex(path: str, index: int) -> str:
    """
    C{req.gor} → C{req_3.gor}; an existing index is replaced.
    """
    root, ext = splitExtension(path)
    m = _INDEX.search(root)
    if m:
        root = root[: m.start()]
    return f"{root}_{index}{ext}"


def nextChunkIndex(path: str) -> int:
    """
    The index after the highest existing chunk of C{path} (0 when none), so a
    restarted gor continues where the previous one stopped.
    """
    root, ext = splitExtension(path)
    highest = -1
    for existing in glob.glob(glob.escape(root) + "_*" + glob.escape(ext)):
        highest = max(highest, chunkIndex(existing))
    return highest + 1
