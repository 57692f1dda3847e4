"""
Live capture: C{--input-raw}, pcap in the reactor and TCP reassembly.

Modules: L{address} (GoReplay address forms, the kernel BPF filter),
L{source} (the pypcap seam), L{reader} (the pcap descriptor in the reactor),
L{decode} (link/IP/TCP decoding), L{reassembly} (TCP streams, ids, pairing),
L{fastpath} (the compiled per-packet twin, C{_fastcapture.pyx}, or not),
L{httpstream} (HTTP/1.x message boundaries), L{pcapfile} (savefiles),
L{input} (the service), L{flags}.

Privileges: the handle and its filter are opened in C{privilegedStartService},
so C{twistd --uid=gor --gid=gor gor --input-raw :80 ...} drops root after
opening; the C{gor} command and C{twist} open it in C{startService}. Without
root, grant the capabilities to the interpreter::

    setcap cap_net_raw,cap_net_admin=eip "$(readlink -f "$(command -v python3)")"

Decisions:
  - C{:80} captures on the Linux C{any} device (one handle, no host clause);
    with C{--input-raw-ignore-interface} each remaining interface is opened
    instead. A loopback IP uses C{lo}; another IP uses C{any} plus
    C{dst host IP}.
  - Engines C{raw_socket} and C{af_packet} are aliases of C{libpcap} (which
    reads an AF_PACKET ring on Linux); C{vxlan} and C{--input-raw-protocol
    binary} exit 2 with a message.
  - Default kernel buffer 32 MB and a 500 ms block timeout (TPACKET_V3),
    not immediate mode: immediate mode's fixed-size frames overflowed at ~50k
    req/s on loopback (see bench/README-capture.md). At low rates each wake-up
    costs more than the packets it brings (cold caches): 10 ms cost 33 ms of
    CPU per 1k requests at 1k req/s, 100 ms 6-13, 500 ms 3-3.6 (GoReplay:
    2 s). A full block is handed over at once, so at high rates nothing
    waits for the timeout. A stop
    reads the ring for one more timeout, so nothing captured before it is
    left unread.
  - Under 10k packets/s the descriptor is read at most every 100 ms
    (L{reader}; matters with a shorter C{--input-raw-buffer-timeout}), and
    housekeeping runs every 0.5 s unless segments wait behind a gap (then
    every 0.1 s), so an idle capture wakes twice a second.
  - The per-packet path has a compiled twin (L{fastpath}, Cython
    C{_fastcapture.pyx}): decode, stream lookup, in-order reassembly and the
    whole-message rules of L{twisted_gor._http1} (ported, tested
    differentially), up to the message handed to the receiver with its meta
    line; anything not simple (out of order, split, chunked, malformed,
    first message of a connection, sessions, real-IP header) goes to the
    Python code unchanged. C{TWISTED_GOR_PURE=1} selects the pure twin.
  - Overload: after kernel drops every gap of a stream is given up in one
    sorted pass (not one gap per tick), held segments cost their payload
    plus 160 bytes against C{--input-raw-max-held}, and a stop feeds at most
    32 MB of held segments (the rest counted C{dropped.held_at_stop}), so
    memory stays bounded and exit prompt.
  - Reassembly is by sequence number per direction, not by Ack as in
    GoReplay, so requests spanning Ack changes and pipelined requests are
    kept. Ids still follow GoReplay (ports, client IP, Ack of the first
    segment); pipelined requests sharing an Ack get Ack+1, Ack+2...;
    responses take their request's id (matched by Seq == Ack, else in order).
  - Payloads are byte-exact: C{Expect: 100-continue} is kept (GoReplay
    deletes it); interim 1xx responses are not emitted (counted
    C{skipped.interim_response}).
  - Request latency is first-to-last packet; a response's latency is its
    last packet minus its request's last packet (the server's time to answer).
  - Every loss has a counter: C{dropped.kernel}, C{dropped.truncated},
    C{dropped.gaps}, C{dropped.gaps_held_limit} (over
    C{--input-raw-max-held}, the oldest gaps are given up),
    C{dropped.expired_request}/C{_response},
    C{dropped.unparsable}, C{dropped.decode}, C{dropped.midstream_segments},
    C{dropped.held_at_stop};
    C{skipped.self_capture} for gor's own connections
    (the service's L{twisted_gor.selfports.SelfPorts}).
  - Session data (C{--recognize-tcp-sessions}) only with the flag: it costs
    about 0.9 us per request, and default captures stay GoReplay's exact
    format. The connection's close is a separate record with an empty
    payload (GoReplay's reader skips those), emitted at the first FIN or RST
    in either direction, a reused 4-tuple, or when the connection is
    forgotten (idle, evicted): the close comes after the last request was
    emitted, and a live capture cannot hold requests back to mark it.
"""
