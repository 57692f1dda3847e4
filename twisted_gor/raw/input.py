# -*- test-case-name: tests.test_raw_decode,tests.test_raw_reassembly,tests.test_raw_live -*-
"""
C{--input-raw}: the capture input service.

Opens one pcap handle per device (in C{privilegedStartService}, so that
C{twistd --uid/--gid} can drop root afterwards, and idempotently again in
C{startService}), reads it in the reactor, decodes frames to TCP segments,
reassembles them into HTTP messages and emits them: type 1 requests and, with
C{--input-raw-track-response}, type 2 responses with the same id.

Counters (C{--stats} and the exit summary): C{packets}, C{emitted},
C{dropped.kernel} / C{dropped.interface} (pcap statistics),
C{dropped.truncated}, C{dropped.gaps} / C{dropped.gaps_held_limit} (gaps given
up after the expiry, kernel drops, or over C{--input-raw-max-held}),
C{dropped.expired_request} / C{dropped.expired_response}
(incomplete messages given up), C{dropped.unparsable}, C{dropped.decode}
(malformed frames), C{skipped.not_tcp}, C{skipped.filtered},
C{skipped.self_capture} (gor's own replay traffic), C{incomplete} (emitted
incomplete with C{--input-raw-allow-incomplete}), C{dropped.held_at_stop}
(held segments a stop did not feed), C{segments.*}.
"""

from __future__ import annotations

import struct
import time
from dataclasses import dataclass, field, replace
from typing import Any, Callable, ClassVar, Optional

from twisted.application.service import Service
from twisted.internet.defer import Deferred, succeed
from twisted.logger import Logger

from twisted_gor._interfaces import IBatchReceiver
from twisted_gor.base import InputBase, resolveReactor
from twisted_gor.config import CAPTURED_RESPONSES, BuildContext, Capabilities
from twisted_gor.limiter import Limit
from twisted_gor.message import Message
from twisted_gor.raw.address import CaptureAddress, bpfFilter, parseAddress
from twisted_gor.raw.decode import NotTCP, decoderFor, fastLayout
from twisted_gor.raw.fastpath import BUILD_ERROR, FastPacket
from twisted_gor.raw.pcapfile import PcapFileReader
from twisted_gor.raw.reader import PcapReader
from twisted_gor.raw.reassembly import MAX_CONNECTIONS, MAX_HELD_BYTES, Tracker
from twisted_gor.raw.source import LiveOptions, PcapHandle, openLive, openOffline
from twisted_gor.selfports import SelfPorts


@dataclass
class RawInputConfig(Capabilities):
    """
    Configuration of one C{--input-raw}.

    Provides C{CAPTURED_RESPONSES}: when another component wants them,
    responses are tracked as if C{trackResponse} were set.

    @ivar address: the address as given (without C{|limit}).
    @ivar engine: C{libpcap} or C{pcap_file}.
    @ivar expire: seconds a gap or partial message may wait.
    @ivar bpfFilter: replaces the automatic filter when set.
    @ivar originalTiming: savefiles are read at the pace they were captured.
    @ivar dataOnly: the automatic filter leaves pure ACKs in the kernel.
    @ivar bufferSize: kernel capture buffer in bytes.
    @ivar maxHeld: bound on out-of-order bytes held across all connections;
        over it the oldest gaps are given up (C{dropped.gaps_held_limit}).
    @ivar maxConnections: connections tracked at once; over it the least
        recently active are forgotten (C{dropped.evicted_connections}).
    @ivar sessions: record each request's client connection and position,
        and each connection's close (C{--recognize-tcp-sessions}; see
        L{twisted_gor.raw.reassembly}).
    """

    address: str
    limit: Optional[Limit] = None
    engine: str = "libpcap"
    trackResponse: bool = False
    expire: float = 2.0
    allowIncomplete: bool = False
    bpfFilter: str = ""
    bufferSize: int = 32 * 1024 * 1024
    snaplen: int = 262144
    promisc: bool = False
    realIPHeader: str = ""
    timestampType: str = ""
    ignoreInterfaces: list[str] = field(default_factory=list)
    vlan: bool = False
    vlanIds: list[int] = field(default_factory=list)
    bufferTimeout: float = 0.5
    originalTiming: bool = False
    dataOnly: bool = True
    maxHeld: int = MAX_HELD_BYTES
    maxConnections: int = MAX_CONNECTIONS
    sessions: bool = False

    provides: ClassVar[frozenset[str]] = frozenset({CAPTURED_RESPONSES})

    def parsed(self) -> CaptureAddress:
        """
        The parsed address.

        @raise ValueError: the address is unusable.
        """
        return parseAddress(self.address, ignore=self.ignoreInterfaces, forceFile=self.engine == "pcap_file")

    def build(self, context: BuildContext) -> "RawInput":
        """
        Build the input service.
        """
        config = self
        if CAPTURED_RESPONSES in context.enabled and not self.trackResponse:
            config = replace(self, trackResponse=True)
        # One byte more than --copy-buffer-size is kept, so the pipeline sees
        # that a message was longer, cuts it and counts it as truncated.
        copy = context.config.copyBufferSize
        return RawInput(config, reactor=context.reactor, maxStore=copy + 1 if copy else 0, selfPorts=context.selfPorts)


class RawInput(InputBase):
    """
    The capture input service (see the module docstring).
    """

    log = Logger()
    expireInterval = 0.1
    """Housekeeping interval while segments wait behind gaps (kernel drops
    are noticed and their gaps given up within it)."""
    slowInterval = 0.5
    """Housekeeping interval otherwise (at most a quarter of the expiry):
    partial messages and idle connections expire within it."""
    statsInterval = 1.0
    readCoalesce = 0.1
    """At low rates the pcap descriptor is read at most this often (and at
    most every ten pcap block timeouts; not at all in immediate mode), see
    L{PcapReader}: a wake-up for every 10 ms pcap block costs more than its
    packets at a few thousand requests per second. Messages then reach the
    outputs up to this much later; their timestamps are the packets'."""

    def __init__(
        self,
        config: RawInputConfig,
        reactor: Any = None,
        maxStore: int = 0,
        selfPorts: Optional[SelfPorts] = None,
        openLive: Callable[..., PcapHandle] = openLive,
        openOffline: Callable[..., PcapHandle] = openOffline,
    ) -> None:
        InputBase.__init__(self, f"input_raw({config.address})")
        self.config = config
        self._reactor = reactor
        self.address = config.parsed()
        self._openLive = openLive
        self._openOffline = openOffline
        self.tracker = Tracker(
            self._emitMessage,
            self.stats,
            ports=frozenset(self.address.ports),
            trackResponse=config.trackResponse,
            expire=config.expire,
            allowIncomplete=config.allowIncomplete,
            realIPHeader=config.realIPHeader.encode("ascii") if config.realIPHeader else None,
            maxStore=maxStore,
            selfPorts=selfPorts,
            maxHeld=config.maxHeld,
            maxConnections=config.maxConnections,
            emitSession=self._emitSessionMessage if config.sessions else None,
        )
        self.filter = config.bpfFilter or bpfFilter(
            self.address,
            trackResponse=config.trackResponse,
            promisc=config.promisc,
            vlan=config.vlan,
            vlanIds=config.vlanIds,
            dataOnly=config.dataOnly,
        )
        self._wallClock = config.timestampType == "go"
        self.handles: list[tuple[str, PcapHandle]] = []
        self.readers: list[PcapReader] = []
        self._fileReader: Optional[PcapFileReader] = None
        self._exhausted: Optional[Deferred[None]] = Deferred() if self.address.isFile else None
        self._nextTick: Any = None
        self._fileClock = 0
        self._lastStats = 0.0
        self._compiled: list[Any] = []
        self.batch: list[Message] = []
        """
        The messages completed during the current read of packets, handed
        on together after it (L{flushBatch}). The compiled per-packet path
        appends its messages here; the Python paths append only when it is
        not empty (so the order is kept) and otherwise deliver at once.
        Bound: what one read of at most L{PcapReader.maxPacketsPerRead}
        packets completes, and at most 1 MiB of payload from the compiled
        path (C{BATCH_BYTES}) before it is handed on mid-read.
        """
        self._closesInBatch = 0

    # -- lifecycle -----------------------------------------------------------

    def openHandles(self) -> None:
        """
        Open the pcap handle(s) and set the filter; does nothing the second time.

        @raise twisted_gor.raw.source.CaptureError: a handle cannot be opened.
        """
        if self.handles:
            return
        address = self.address
        if address.isFile:
            bpf = self.config.bpfFilter or (
                bpfFilter(
                    address,
                    trackResponse=self.config.trackResponse,
                    vlan=self.config.vlan,
                    vlanIds=self.config.vlanIds,
                    dataOnly=False,
                )
                if address.ports
                else ""
            )
            self.handles.append((address.devices[0], self._openOffline(address.devices[0], bpf)))
            return
        timeoutMs = int(self.config.bufferTimeout * 1000)
        options = LiveOptions(
            snaplen=self.config.snaplen,
            promisc=self.config.promisc,
            immediate=timeoutMs <= 0,
            timeoutMs=timeoutMs,
            bufferSize=self.config.bufferSize,
        )
        opened: list[tuple[str, PcapHandle]] = []
        try:
            for device in address.devices:
                opened.append((device, self._openLive(device, self.filter, options)))
        except Exception:
            for _, handle in opened:
                handle.close()
            raise
        self.handles = opened
        for device, _ in opened:
            self.log.debug("Interface: {device} . BPF Filter: {bpf}", device=device, bpf=self.filter)
        self.log.info(
            "{name}: capturing on {devices}", name=self.name, devices=", ".join(device for device, _ in opened)
        )

    def privilegedStartService(self) -> None:
        """
        Open the handles while still privileged.
        """
        self.openHandles()
        Service.privilegedStartService(self)

    def startService(self) -> None:
        """
        Open the handles (if not yet) and start reading.
        """
        self.openHandles()
        Service.startService(self)
        reactor = resolveReactor(self._reactor)
        self._reactor = reactor
        if self.address.isFile:
            device, handle = self.handles[0]
            self._fileReader = PcapFileReader(
                handle,
                self._makeReceiver(handle.datalink(), fileMode=True),
                reactor,
                self.config.originalTiming,
                afterRead=self.flushBatch,
            )
            self._fileReader.done.addCallback(self._fileDone)
            if self.paused:
                self._fileReader.pause()
            self._fileReader.start()
            return
        for device, handle in self.handles:
            reader = PcapReader(
                handle,
                self._makeReceiver(handle.datalink()),
                reactor,
                name=f"pcap({device})",
                afterRead=self.flushBatch,
                coalesce=min(self.readCoalesce, 10 * self.config.bufferTimeout) if self.config.bufferTimeout > 0 else 0.0,
            )
            self.readers.append(reader)
            reader.startReading()
        self._nextTick = reactor.callLater(self.expireInterval, self._tick)

    def stopService(self) -> Deferred[None]:
        """
        Stop. A live capture first reads what the kernel ring still holds:
        packets are handed over a block at a time, and a block is given up
        by the kernel at the latest one buffer timeout after its first
        packet, so reading goes on until one timeout (plus
        L{drainGrace}) has passed and the ring is caught up, for at most
        L{maxDrain} seconds (a backlog still unread then is logged). Then
        partial messages are given up (and counted).
        """
        Service.stopService(self)
        if self._nextTick is not None and self._nextTick.active():
            self._nextTick.cancel()
        self._nextTick = None
        if not self.readers:
            self._finishStop()
            return succeed(None)
        return self._drain().addCallback(lambda _: self._finishStop())

    drainGrace = 0.03
    """Seconds read past one buffer timeout when stopping."""
    maxDrain = 2.0
    """At most this many seconds are spent reading the ring when stopping."""

    def _drain(self) -> Deferred[None]:
        reactor = self._reactor
        started = reactor.seconds()
        quiet = self.config.bufferTimeout + self.drainGrace
        done: Deferred[None] = Deferred()
        batch = PcapReader.maxPacketsPerRead

        def step() -> None:
            behind = False
            for reader in self.readers:
                before = reader.packets
                reader.doRead()
                if reader.packets - before >= batch:
                    behind = True
            elapsed = reactor.seconds() - started
            if elapsed >= self.maxDrain:
                if behind:
                    self.log.warn(
                        "{name}: stopped with a backlog in the kernel ring still unread after {seconds:.1f} s",
                        name=self.name,
                        seconds=elapsed,
                    )
                done.callback(None)
            elif elapsed >= quiet and not behind:
                done.callback(None)
            else:
                reactor.callLater(0.001 if behind else min(0.01, quiet), step)

        step()
        return done

    def _finishStop(self) -> None:
        self._updateKernelStats()
        for reader in self.readers:
            reader.stopReading()
            reader.connectionLost(None)  # type: ignore[arg-type]
        self.readers = []
        if self._fileReader is not None:
            self._fileReader.stop()
        self.tracker.finish()
        self.handles = []
        self._logCompiled()

    def _logCompiled(self) -> None:
        if self._compiled:
            self.log.info(
                "{name}: {count} messages emitted by the compiled path",
                name=self.name,
                count=sum(handler.fast for handler in self._compiled),
            )
            self._compiled = []

    def whenExhausted(self) -> Optional[Deferred[None]]:
        """
        Fires at the end of a savefile; L{None} for a live capture.
        """
        return self._exhausted

    def pauseProducing(self) -> None:
        """
        A savefile pauses; a live capture cannot.
        """
        InputBase.pauseProducing(self)
        if self._fileReader is not None:
            self._fileReader.pause()

    def resumeProducing(self) -> None:
        """
        Resume a savefile.
        """
        InputBase.resumeProducing(self)
        if self._fileReader is not None:
            self._fileReader.resume()

    # -- packets -------------------------------------------------------------

    def _makeReceiver(self, linktype: int, fileMode: bool = False) -> Callable[[int, bytes], None]:
        decode = decoderFor(linktype)
        segment = self.tracker.segment
        stats = self.stats
        log = self.log
        wallClock = self._wallClock
        structError = struct.error

        def packetReceived(ts: int, data: bytes) -> None:
            try:
                seg = decode(data)
            except NotTCP:
                stats.increment("skipped.not_tcp")
                return
            except (structError, IndexError):
                stats.increment("dropped.decode")
                return
            if wallClock:
                ts = time.time_ns()
            try:
                segment(ts, seg)
            except Exception:
                stats.increment("errors")
                log.failure("while processing a captured packet")

        tracker = self.tracker
        handler = packetReceived if wallClock else tracker.packetHandler(fastLayout(linktype), packetReceived, sink=self)
        if FastPacket is not None and isinstance(handler, FastPacket):
            self._compiled.append(handler)
        log.info(
            "{name}: per-packet path: {path}",
            name=self.name,
            path="compiled" if self._compiled else f"pure Python ({BUILD_ERROR or 'this link type or clock'})",
        )
        if not fileMode:
            return handler

        def packetFromFile(ts: int, data: bytes) -> None:
            if ts - self._fileClock >= 100_000_000:
                # The capture clock of a file is its packets' timestamps.
                if self._fileClock:
                    tracker.expire(ts)
                self._fileClock = ts
            handler(ts, data)

        return packetFromFile

    def flushBatch(self) -> None:
        """
        Hand the messages of L{batch} to the receiver: in one call when it
        takes batches (what it does not take, because the outputs paused
        the inputs on the way, follows one by one: a capture cannot wait,
        the outputs count what they cannot keep), else one by one.
        """
        batch = self.batch
        if not batch:
            return
        messages = batch[:]
        del batch[:]
        closes, self._closesInBatch = self._closesInBatch, 0
        receiver = self.receiver
        if receiver is None:
            self.stats.increment("dropped.no_receiver", len(messages))
            return
        self.emitted += len(messages) - closes
        try:
            taken = 0
            if IBatchReceiver.providedBy(receiver):
                taken = receiver.messagesReceived(messages)
                if taken >= len(messages):
                    return
            receive = receiver.messageReceived
            for message in messages[taken:] if taken else messages:
                receive(message)
        except Exception:
            self.stats.increment("errors")
            self.log.failure("{name}: while handing on captured messages", name=self.name)

    def _emitMessage(self, kind: int, rid: bytes, ts: int, latency: int, payload: bytes) -> None:
        # InputBase.emit, inlined: this runs once per captured message.
        if self.batch:
            self.batch.append(Message(kind, rid, ts, latency, payload))
            return
        receiver = self.receiver
        if receiver is None:
            self.stats.increment("dropped.no_receiver")
            return
        self.emitted += 1  # shown as "emitted" (InputBase tracks the attribute)
        receiver.messageReceived(Message(kind, rid, ts, latency, payload))

    def _emitSessionMessage(self, kind: int, rid: bytes, ts: int, latency: int, payload: bytes, session: bytes) -> None:
        if self.batch:
            if not payload:
                self._closesInBatch += 1
                self.stats.increment("sessions.closed")
            self.batch.append(Message(kind, rid, ts, latency, payload, None, session))
            return
        receiver = self.receiver
        if receiver is None:
            self.stats.increment("dropped.no_receiver")
            return
        if payload:
            self.emitted += 1
        else:
            self.stats.increment("sessions.closed")
        receiver.messageReceived(Message(kind, rid, ts, latency, payload, None, session))

    def _tick(self) -> None:
        try:
            reactor = self._reactor
            now = reactor.seconds()
            self.tracker.expire(int(now * 1e9))
            tracker = self.tracker
            if tracker.hasGaps():
                before = self.stats["dropped.kernel"]
                self._updateKernelStats()
                if self.stats["dropped.kernel"] > before:
                    # The kernel dropped packets: the open gaps will never be
                    # filled, give them up now rather than after the expiry.
                    tracker.skipAllGaps(int(now * 1e9))
            if now - self._lastStats >= self.statsInterval:
                self._lastStats = now
                self._updateKernelStats()
        except Exception:
            self.log.failure("capture housekeeping failed")
        if self.running and self.readers:
            if self.tracker.heldSegments:
                interval = self.expireInterval
            else:
                interval = max(self.expireInterval, min(self.slowInterval, self.config.expire / 4))
            self._nextTick = self._reactor.callLater(interval, self._tick)

    def _updateKernelStats(self) -> None:
        if self._fileReader is not None:
            self.stats.set("packets", self._fileReader.packets)
        if self.address.isFile or not self.readers:
            return
        self.stats.set("packets", sum(reader.packets for reader in self.readers))
        dropped = ifDropped = 0
        for device, handle in self.handles:
            try:
                received, d, i = handle.stats()
            except Exception:
                continue
            dropped += d
            ifDropped += i
        self.stats.set("dropped.kernel", dropped)
        self.stats.set("dropped.interface", ifDropped)

    def _fileDone(self, _: None) -> None:
        error = self._fileReader.error if self._fileReader is not None else None
        if error is not None:
            self.stats.increment("failed.pcap_file")
            reason = f"{self.address.devices[0]}: corrupt pcap record ({error}); the rest of the file is not read"
            self.log.error("{name}: {reason}", name=self.name, reason=reason)
            self.reportFailure(reason)
        self.tracker.finish()
        self._updateKernelStats()
        if self._exhausted is not None and not self._exhausted.called:
            self._exhausted.callback(None)
