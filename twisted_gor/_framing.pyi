from typing import Callable

from twisted_gor.message import Message

def splitRecords(
    buffer: bytes,
    start: int,
    scan: int,
    out: list[Message],
    factory: Callable[[int, bytes, int, int, bytes, bytes], Message],
) -> tuple[int, int]: ...
def encodeRecords(
    messages: list[Message], pure: Callable[[list[Message]], tuple[bytes, list[int]]]
) -> tuple[bytes, list[int]]: ...
def useMessageClass(cls: type) -> bool: ...
