"""
Embed a gor pipeline in a Python program: replay synthetic requests into a
custom output and stop when done.
"""

import sys

from twisted.internet import task
from twisted.internet.defer import Deferred

from twisted_gor.basic.components import DummyInputConfig
from twisted_gor.config import GorConfig
from twisted_gor.service import makeGorService
from twisted_gor.testing import MemoryConfig, MemoryOutput


async def main(reactor):
    captured = MemoryOutput()
    config = GorConfig(
        inputs=[DummyInputConfig(limit=None, interval=0.1)],
        outputs=[MemoryConfig(captured)],
        exitAfter=0.25,
    )
    gor = makeGorService(config, reactor)
    gor.startService()
    await gor.whenDone()
    await gor.stopService()
    sys.stdout.write(f"captured {len(captured.messages)} requests\n")


task.react(lambda reactor: Deferred.fromCoroutine(main(reactor)))
