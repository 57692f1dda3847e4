# -*- test-case-name: tests.test_raw_decode -*-
"""
Flags of the capture area (C{--input-raw*}, GoReplay §1.9).

Engines: C{libpcap} (also spelled C{""}) and C{pcap_file}; C{raw_socket} and
C{af_packet} are accepted as aliases of C{libpcap} (on Linux libpcap already
reads an AF_PACKET ring); C{vxlan} is rejected. C{--input-raw-protocol binary}
is rejected (HTTP only).
"""

from __future__ import annotations

from twisted_gor.config import GorConfig
from twisted_gor.flags import BOOL, DURATION, INT, SIZE, STRING, Flag, FlagValues, nonNegative, positive
from twisted_gor.limiter import splitLimit
from twisted_gor.raw.input import RawInputConfig

ENGINES = {"": "libpcap", "libpcap": "libpcap", "pcap": "libpcap", "raw_socket": "libpcap", "af_packet": "libpcap", "pcap_file": "pcap_file"}
DEFAULT_SNAPLEN = 262144
OVERRIDE_SNAPLEN = 65536 + 200


def _engine(value: str) -> str:
    if value == "vxlan":
        raise ValueError(
            "the vxlan engine (decapsulating VXLAN-mirrored traffic) is not supported by twisted-gor;"
            " capture with libpcap on the VXLAN interface (ip link add ... type vxlan) instead"
        )
    if value not in ENGINES:
        raise ValueError(f"invalid engine {value!r} (libpcap, raw_socket, af_packet, pcap_file)")
    return ENGINES[value]


def _protocol(value: str) -> None:
    if value != "http":
        if value == "binary":
            raise ValueError(
                "binary protocol capture (GoReplay PRO, for --output-binary) is not supported by twisted-gor;"
                " only http: record other TCP traffic with tcpdump -w instead"
            )
        raise ValueError(f"unsupported protocol {value!r}: only http is supported")


def _vid(value: int) -> None:
    if not 0 <= value <= 4095:
        raise ValueError(f"VLAN id {value} is out of range 0-4095")


FLAGS: list[Flag] = [
    Flag(
        "input-raw",
        STRING,
        "Capture HTTP traffic: ':80', '127.0.0.1:80', '[::1]:80', 'lo:80', ':80,8080', 'dump.pcap:80'; 'ADDR|10' limits.",
        repeat=True,
    ),
    Flag(
        "input-raw-engine",
        STRING,
        "Capture engine: libpcap (default; raw_socket and af_packet are aliases) or pcap_file.",
        default="libpcap",
        check=_engine,
    ),
    Flag("input-raw-track-response", BOOL, "Also capture responses, emitted as type 2 with their request's id."),
    Flag(
        "input-raw-expire",
        DURATION,
        "How long a gap or an incomplete message may wait before it is given up (default 2s; 0 = 1s).",
        default=2.0,
        check=nonNegative,
    ),
    Flag("input-raw-allow-incomplete", BOOL, "Emit expired incomplete messages instead of dropping them (both counted)."),
    Flag("input-raw-bpf-filter", STRING, "Replace the automatic BPF filter (responses then need their own clause).", default=""),
    Flag(
        "input-raw-buffer-size",
        SIZE,
        "Kernel capture buffer (default 32mb); raise it when stats show dropped.kernel. 0 = the default.",
        default=RawInputConfig.bufferSize,
    ),
    Flag("input-raw-override-snaplen", BOOL, "Snapshot length 65536+200 (the default, 262144, already takes whole packets)."),
    Flag("input-raw-snaplen", INT, "Snapshot length in bytes (0 = default 262144); shorter packets are counted truncated.", default=0),
    Flag("input-raw-promisc", BOOL, "Promiscuous mode; also drops the host clause of the automatic filter."),
    Flag("input-raw-monitor", BOOL, "RF monitor mode (accepted for compatibility; not supported by pypcap, ignored)."),
    Flag("input-raw-realip-header", STRING, "Set this header (e.g. X-Real-IP) on captured requests to the client IP.", default=""),
    Flag(
        "input-raw-timestamp-type",
        STRING,
        "'go' stamps packets with the wall clock when read; pcap types (PCAP_TSTAMP_*) are accepted and ignored.",
        default="",
    ),
    Flag("input-raw-protocol", STRING, "Message protocol: http (binary is not supported).", default="http", check=_protocol),
    Flag("input-raw-ignore-interface", STRING, "Interface to skip when capturing on all interfaces (repeatable).", repeat=True),
    Flag("input-raw-vlan", BOOL, "Capture 802.1Q-tagged traffic (prefixes the filter with 'vlan and')."),
    Flag("input-raw-vlan-vid", INT, "Only this VLAN id (repeatable).", repeat=True, check=_vid),
    Flag("input-raw-vxlan-port", INT, "UDP port of the vxlan engine (accepted; the vxlan engine is not supported).", default=4789),
    Flag("input-raw-vxlan-vni", INT, "VNI filter of the vxlan engine (accepted; not supported).", repeat=True),
    Flag(
        "input-raw-buffer-timeout",
        DURATION,
        "pcap block timeout (default 500ms: at low rates packets wait in the kernel ring for at most this long, a full block is handed over at once); 0 = immediate mode.",
        default=0.5,
        check=nonNegative,
    ),
    Flag("input-raw-immediate-mode", BOOL, "Old flag: immediate mode, one wakeup per packet (same as --input-raw-buffer-timeout 0)."),
    Flag("input-raw-stats", BOOL, "Accepted for compatibility: capture counters are always kept and shown by --stats."),
    Flag(
        "input-raw-original-timing",
        BOOL,
        "Read pcap files at the pace they were captured instead of as fast as possible.",
    ),
    Flag(
        "input-raw-max-held",
        SIZE,
        "Out-of-order data held behind gaps, all connections together (default 256mb); over it the oldest gaps "
        "are given up, counted as dropped.gaps_held_limit.",
        default=RawInputConfig.maxHeld,
    ),
    Flag(
        "input-raw-max-connections",
        INT,
        "TCP connections tracked at once (default 10000); over it the least recently active are forgotten, "
        "idle ones first, counted as dropped.evicted_connections.",
        default=RawInputConfig.maxConnections,
        check=positive,
    ),
    Flag(
        "input-raw-keep-acks",
        BOOL,
        "Let pure ACK segments through the automatic kernel filter (by default only data, SYN, FIN and RST reach gor).",
    ),
]


_PCAP_MAGICS = frozenset(
    bytes.fromhex(h) for h in ("a1b2c3d4", "d4c3b2a1", "a1b23c4d", "4d3cb2a1", "0a0d0d0a")
)
"""First bytes of pcap savefiles (micro- and nanosecond, both byte orders) and pcapng."""


def _checkPcapFile(path: str) -> None:
    """
    A savefile given to the C{pcap_file} engine must be one libpcap reads:
    an empty or foreign file is a usage error, not a failure at start.

    @raise ValueError: naming the flag, the file and libpcap's reason.
    """
    from twisted_gor.raw.source import CaptureError, openOffline

    try:
        with open(path, "rb") as f:
            magic = f.read(4)
    except OSError as e:
        raise ValueError(f"--input-raw: cannot read {path!r}: {e.strerror}") from None
    if not magic:
        raise ValueError(f"--input-raw: {path!r} is empty, not a pcap file")
    if magic not in _PCAP_MAGICS:
        raise ValueError(f"--input-raw: {path!r} is not a pcap or pcapng file")
    try:
        openOffline(path, "").close()
    except CaptureError as e:
        raise ValueError(f"--input-raw: {e}") from None
    except ImportError as e:
        raise ValueError(f"--input-raw: cannot read pcap files without pypcap: {e}") from None


def configure(values: FlagValues, config: GorConfig) -> None:
    """
    Add one L{RawInputConfig} per C{--input-raw}.
    """
    snaplen = values.get("input-raw-snaplen") or 0
    if snaplen < 0:
        raise ValueError(f"--input-raw-snaplen: must not be negative, got {snaplen}")
    if not snaplen:
        snaplen = OVERRIDE_SNAPLEN if values.get("input-raw-override-snaplen") else DEFAULT_SNAPLEN
    bufferTimeout = values.get("input-raw-buffer-timeout")
    if bufferTimeout is None:
        bufferTimeout = 0.5
    if values.get("input-raw-immediate-mode"):
        bufferTimeout = 0.0
    bufferSize = values["input-raw-buffer-size"] or RawInputConfig.bufferSize
    if bufferSize < 0:
        raise ValueError(f"--input-raw-buffer-size: must not be negative, got {bufferSize}")
    maxHeld = values["input-raw-max-held"]
    if maxHeld <= 0:
        raise ValueError(f"--input-raw-max-held: must be positive, got {maxHeld}")
    engine = values.get("input-raw-engine") or "libpcap"
    for value in values.get("input-raw", []):
        address, limit = splitLimit(value)
        raw = RawInputConfig(
            address=address,
            limit=limit,
            engine=engine,
            trackResponse=bool(values.get("input-raw-track-response")),
            expire=values.get("input-raw-expire") or 1.0,
            allowIncomplete=bool(values.get("input-raw-allow-incomplete")),
            bpfFilter=values.get("input-raw-bpf-filter") or "",
            bufferSize=bufferSize,
            snaplen=snaplen,
            promisc=bool(values.get("input-raw-promisc")),
            realIPHeader=values.get("input-raw-realip-header") or "",
            timestampType=values.get("input-raw-timestamp-type") or "",
            ignoreInterfaces=list(values.get("input-raw-ignore-interface", [])),
            vlan=bool(values.get("input-raw-vlan")),
            vlanIds=list(values.get("input-raw-vlan-vid", [])),
            bufferTimeout=bufferTimeout,
            originalTiming=bool(values.get("input-raw-original-timing")),
            dataOnly=not values.get("input-raw-keep-acks"),
            maxHeld=maxHeld,
            maxConnections=values["input-raw-max-connections"],
            sessions=bool(values.get("recognize-tcp-sessions")),
        )
        try:
            parsed = raw.parsed()
        except ValueError as e:
            raise ValueError(f"--input-raw: {e}") from None
        if parsed.isFile:
            _checkPcapFile(parsed.devices[0])
        config.inputs.append(raw)
