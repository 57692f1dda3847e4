"""
Embed a gor pipeline in a Python program: replay synthetic requests into an
output of your own and stop when done. Uses only the public API
(C{twisted_gor}).
"""

import sys

from twisted.internet import task
from twisted.internet.defer import Deferred

from twisted_gor import REQUEST, DummyInputConfig, GorConfig, Message, OutputBase, Prebuilt, makeGorService


class CountingOutput(OutputBase):
    """
    An output of your own: counts the requests it is given by method.
    """

    acceptedTypes = frozenset({REQUEST})

    def __init__(self) -> None:
        OutputBase.__init__(self, "output_counting")
        self.methods: dict[bytes, int] = {}

    def write(self, message: Message) -> None:
        method = message.payload.split(b" ", 1)[0]
        self.methods[method] = self.methods.get(method, 0) + 1
        self.stats.increment("written")


async def main(reactor):
    counting = CountingOutput()
    config = GorConfig(
        inputs=[DummyInputConfig(interval=0.1)],
        outputs=[Prebuilt(counting)],
        exitAfter=0.25,
    )
    gor = makeGorService(config, reactor)
    gor.startService()
    await gor.whenDone()
    await gor.stopService()
    sys.stdout.write(f"captured {sum(counting.methods.values())} requests: {counting.methods}\n")


task.react(lambda reactor: Deferred.fromCoroutine(main(reactor)))
