"""
An in-process echo middleware for bench/bench_middleware.py
(``--middleware-python bench.mw_inprocess:Echo``).
"""

from typing import Iterable

from zope.interface import implementer

from twisted_gor import IMiddleware, Message


@implementer(IMiddleware)
class Echo:
    """
    Every message passed on as it is.
    """

    def handleMessage(self, message: Message) -> Iterable[Message]:
        return (message,)
