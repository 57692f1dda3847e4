"""
WebSocket output (C{--output-ws ws://...} and C{wss://...}).

Modules: L{twisted_gor.ws.output} (the client: workers, queue, reconnects),
L{twisted_gor.ws.flags} (the C{--output-ws*} flags).

The wire is GoReplay's: one binary WebSocket message per gor message, its
bytes the meta line, C{\\n}, then the payload (no separator: the message
boundary frames it). Requests and original responses only (types 1 and 2),
as GoReplay's C{output_ws} writes.

Decisions:
 - The WebSocket protocol is autobahn's Twisted implementation
   (C{autobahn.twisted.websocket}); this area only manages connections and
   the queue. TLS (C{wss://}) is Twisted's (C{wrapClientTLS} around a
   C{HostnameEndpoint}), verified against the system roots unless
   C{--output-ws-skip-verify}.
 - Userinfo in the URL (C{ws://user:pw@host/path}) is taken out of the URL and
   sent as C{Authorization: Basic base64(userinfo)} in the opening handshake,
   exactly GoReplay's encoding (C{user1} alone gives C{Basic dXNlcjE=}). The
   password appears in no log line, component name or error
   (L{twisted_gor.redact}).
 - C{--output-ws-workers} (10) persistent connections, each reconnecting with
   jittered exponential backoff (0.2 s to 2 s) after a failure or a server
   restart; C{--output-ws-sticky} picks the connection by FNV-1a-32 of the
   request id, so a request and its response share one, else round-robin
   over writable connections.
 - Memory is bounded in bytes: messages wait (while no connection is open or
   the transport pushes back) in a queue of at most C{--output-ws-queue-size}
   bytes (default 64mb), counted by the output's L{twisted_gor.flow.FlowControl},
   which pauses pausable inputs at 90% and resumes at 50%; a message that does
   not fit is dropped and counted C{dropped.queue_full}. A message counts as
   C{sent} once handed to a connection's transport: WebSocket has no
   acknowledgements, so what was in a socket's buffer when the connection
   broke may be lost (counted per broken connection as C{connections.broken}).
 - At exit the queue is delivered for up to C{--output-ws-timeout} (5s); the
   rest is counted C{dropped.stop_timeout}. Then every connection is closed
   with a WebSocket close (code 1000).
 - C{--output-ws-stats} logs C{output_ws:latest,mean,max,count,count/second}
   queue lines, with C{--stats} (GoReplay's C{--output-ws-stats} read the
   tcp switch: a bug not copied).
"""
