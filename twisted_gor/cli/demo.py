# -*- test-case-name: tests.test_demo -*-
"""
The built-in local example (C{python -m twisted_gor.cli.demo}, run as root).

It starts a "production" and a "staging" web server on loopback (staging with
one deliberate regression), runs the real C{gor} command capturing
production's port with C{--input-raw} and replaying to staging with
C{--output-http} (recording requests, production responses and staging
responses to C{gor-demo/demo.gor}, comparing them into
C{gor-demo/compare.json}), sends real requests to production, then reports
what each side saw and what differs.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

from twisted.internet.defer import Deferred
from twisted.internet.task import deferLater
from twisted.web import resource, server

REQUESTS = 30


def _answer(request: Any, body: bytes, currency: str) -> bytes:
    request.setHeader(b"content-type", b"application/json")
    answer: dict[str, Any] = {"path": request.uri.decode(), "method": request.method.decode(), "received": len(body)}
    if request.uri.startswith(b"/cart/"):
        answer["total"] = {"amount": 20, "currency": currency}
    return json.dumps(answer).encode()


class _Production(resource.Resource):
    isLeaf = True

    def __init__(self) -> None:
        resource.Resource.__init__(self)
        self.served = 0

    def render(self, request: Any) -> bytes:
        self.served += 1
        return _answer(request, request.content.read(), "USD")


class _Staging(resource.Resource):
    """
    The same application, with one deliberate regression: carts in EUR.
    """

    isLeaf = True

    def __init__(self) -> None:
        resource.Resource.__init__(self)
        self.received: list[tuple[bytes, bytes, bytes]] = []

    def render(self, request: Any) -> bytes:
        body = request.content.read()
        self.received.append((request.method, request.uri, body))
        return _answer(request, body, "EUR")


def _write(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


async def run(reactor: Any, workdir: str) -> int:
    """
    Run the example; return the process exit code.
    """
    from twisted.internet.protocol import ProcessProtocol
    from twisted.web.client import Agent, HTTPConnectionPool

    from twisted_gor.framing import iterMessages

    production, staging = _Production(), _Staging()
    prodPort = reactor.listenTCP(0, server.Site(production), interface="127.0.0.1")
    stagePort = reactor.listenTCP(0, server.Site(staging), interface="127.0.0.1")
    prod, stage = prodPort.getHost().port, stagePort.getHost().port
    os.makedirs(workdir, exist_ok=True)
    recording = os.path.join(workdir, "demo.gor")
    report = os.path.join(workdir, "compare.json")
    argv = [
        sys.executable, "-m", "twisted_gor",
        "--input-raw", f"127.0.0.1:{prod}", "--input-raw-track-response",
        "--output-http", f"http://127.0.0.1:{stage}", "--output-http-track-response",
        "--output-file", recording,
        "--output-compare", report,
    ]  # fmt: skip
    _write("production on 127.0.0.1:%d, staging on 127.0.0.1:%d" % (prod, stage))
    _write("running: gor " + " ".join(argv[3:]))

    class GorLog(ProcessProtocol):
        def __init__(self) -> None:
            self.err = b""
            self.started: Deferred[None] = Deferred()
            self.ended: Deferred[None] = Deferred()

        def errReceived(self, data: bytes) -> None:
            self.err += data
            if b"gor: started" in self.err and not self.started.called:
                self.started.callback(None)

        def processEnded(self, reason: Any) -> None:
            if not self.started.called:
                self.started.errback(reason)
            self.ended.callback(None)

    gor = GorLog()
    reactor.spawnProcess(gor, sys.executable, argv, env=dict(os.environ))
    try:
        await gor.started
    except Exception:
        _write("gor did not start:\n" + gor.err.decode(errors="replace"))
        return 1
    await deferLater(reactor, 0.5, lambda: None)

    import treq

    pool = HTTPConnectionPool(reactor)
    client = treq.client.HTTPClient(Agent(reactor, pool=pool))
    for i in range(REQUESTS):
        if i % 3 == 0:
            url = "http://127.0.0.1:%d/cart/%d?ref=demo" % (prod, i)
            response = await client.post(url, data=b'{"item": %d, "qty": 2}' % i)
        else:
            url = "http://127.0.0.1:%d/products/%d?ref=demo" % (prod, i)
            response = await client.get(url)
        await treq.content(response)
    await pool.closeCachedConnections()

    for _ in range(50):
        if len(staging.received) >= REQUESTS:
            break
        await deferLater(reactor, 0.1, lambda: None)
    await deferLater(reactor, 0.5, lambda: None)
    assert gor.transport is not None
    gor.transport.signalProcess("TERM")
    await gor.ended
    prodPort.stopListening()
    stagePort.stopListening()

    with open(recording, "rb") as f:
        messages = list(iterMessages(f.read()))
    kinds = {k: sum(1 for m in messages if m.type == k) for k in (1, 2, 3)}
    _write("")
    _write(f"production served          {production.served} requests")
    _write(f"staging received           {len(staging.received)} replayed requests")
    _write(f"{recording} holds   {kinds[1]} requests, {kinds[2]} production responses, {kinds[3]} staging responses")
    summary = [line for line in gor.err.decode(errors="replace").splitlines() if "summary:" in line]
    _write("gor's own counters at exit:")
    for line in summary:
        _write("  " + line.split("summary: ", 1)[1])
    with open(report, encoding="utf-8") as reportFile:
        comparison = json.load(reportFile)
    totals = comparison["totals"]
    _write("")
    _write(
        f"comparison ({report}): {totals['compared']} pairs compared, {totals['same']} identical, "
        f"{totals['differs.body']} with a different body"
    )
    for endpoint, entry in sorted(comparison["endpoints"].items()):
        for category, found in sorted(entry.get("differs", {}).items()):
            first = found["samples"][0]["differences"][0]
            _write(
                f"  {endpoint}: {found['count']} differ ({category}), e.g. "
                f"{first['path']} {first['original']} -> {first['replayed']}"
            )
    ok = production.served == REQUESTS and len(staging.received) == REQUESTS and kinds[1] == REQUESTS
    _write("")
    _write("every request was captured and replayed" if ok else "SOMETHING WAS MISSED: see the counters above")
    return 0 if ok else 1


def main() -> None:
    """
    Entry point of C{python -m twisted_gor.cli.demo [WORKDIR]}.
    """
    if os.geteuid() != 0:
        sys.stderr.write("gor demo: live capture needs root (or CAP_NET_RAW); run it with sudo\n")
        raise SystemExit(2)
    workdir = sys.argv[1] if len(sys.argv) > 1 else "gor-demo"
    from twisted.internet import task

    def start(reactor: Any) -> Deferred[None]:
        async def go() -> None:
            code = await run(reactor, workdir)
            if code:
                raise SystemExit(code)

        return Deferred.fromCoroutine(go())

    task.react(start)


if __name__ == "__main__":
    main()
