"""
A WebSocket sink for bench_ws.py: autobahn's server on loopback; prints
"listening PORT", then "done N BYTES CPU" once N messages arrived (N = argv[1]).
"""

import os
import sys

from autobahn.twisted.websocket import WebSocketServerFactory, WebSocketServerProtocol
from twisted.internet import reactor

EXPECTED = int(sys.argv[1])
seen = [0, 0]


class Sink(WebSocketServerProtocol):
    def onMessage(self, payload: bytes, isBinary: bool) -> None:
        seen[0] += 1
        seen[1] += len(payload)
        if seen[0] == EXPECTED:
            t = os.times()
            sys.stdout.write(f"done {seen[0]} {seen[1]} {t.user + t.system:.3f}\n")
            sys.stdout.flush()


factory = WebSocketServerFactory()
factory.protocol = Sink
port = reactor.listenTCP(0, factory, interface="127.0.0.1")
sys.stdout.write(f"listening {port.getHost().port}\n")
sys.stdout.flush()
reactor.run()
