"""
Run gor inside a Twisted application: twistd -ny gor.tac

Writes two synthetic requests (one a second) to requests.gor, then stops.
"""

from twisted.application import service

from twisted_gor import DummyInputConfig, FileOutputConfig, GorConfig, makeGorService

application = service.Application("gor-example")
config = GorConfig(
    inputs=[DummyInputConfig(limit=None)],
    outputs=[FileOutputConfig(pathTemplate="requests.gor")],
    exitAfter=1.5,
)
gor = makeGorService(config)
gor.stopReactorWhenDone = True
gor.setServiceParent(application)
