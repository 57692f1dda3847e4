"""
Middleware: every input's messages through a program or a Python object
before the filters and outputs (C{--middleware}, C{--middleware-python}).

Modules: L{stage} (what both share: the ledger, the budget, the counters),
L{external} (GoReplay's hex line protocol with a child process),
L{inprocess} (an L{twisted_gor.IMiddleware} called in the reactor),
L{flags}. The stage's seam is L{twisted_gor._interfaces.IMiddlewareStage};
the service puts it between the inputs and the pipeline
(L{twisted_gor.pipeline.Pipeline.setStage}).

Protocol of C{--middleware} (GoReplay's): one line per message each way,
C{hex(meta line + "\\n" + payload) + "\\n"}, lowercase hex to the child
(upper case is accepted back). The child gets requests (1), original
responses (2) and, with C{--output-http-track-response}, replayed responses
(3): type-3 messages reach the stage through the outputs'
L{twisted_gor.interfaces.IResponseSource} channel, wired by the service.
What it writes back goes on: echoed, changed (keep the meta line), or new
(injected); what it does not write back is dropped. Write each line with a
flush (a pipe is block-buffered).

Order, as GoReplay: input limit -> middleware (after C{--copy-buffer-size}
truncation and C{--prettify-http}) -> truncation, filters and modifiers,
C{--prettify-http} -> output limits -> outputs.

Decisions:
  - No line-length limit but a byte budget: a line read back may be up to
    twice C{--middleware-max-message-size} (default: twice
    C{--copy-buffer-size}, at least 1 MiB, decoded) hex bytes; a longer one
    is skipped as C{malformed}. 10 MB messages pass byte-exact with
    C{--copy-buffer-size 16mb}.
  - Toward the middleware: at most C{--middleware-buffer-size} (16 MiB) of
    hex lines queued in gor plus one line (a message is taken while less
    than the budget is queued), plus the stdin pipe's write buffer
    (256 KiB plus one batch) and its 1 MiB kernel buffer. Over half of it
    pausable inputs (files, acknowledging relays) pause; once it is full,
    live inputs' messages are dropped as C{dropped.queue_full}. Back from the
    middleware: the child's stdout (and stderr) are not read while the
    outputs are saturated, so the child blocks on its own writes.
  - Counting. The child is asynchronous, so per message gor cannot know
    whether it was dropped or is still being worked on. A ledger of the
    C{(type, id)} of every message sent tells what comes back: a known pair
    is C{received}, any other C{injected}. A message never seen back is
    C{dropped_by_middleware}: at exit, or after 30 to 60 s, or when 100,000
    pairs are pending (the ledger's bound, about 15 MB). A middleware
    that changes ids shows as drops plus injections; C{pending} shows the
    ledger's size. So C{sent = received + dropped_by_middleware + pending}.
  - The configs declare no capability: type 3 reaches the middleware only
    with C{--output-http-track-response} (GoReplay's rule), through the
    replays' L{twisted_gor.interfaces.IResponseSource} channel; an
    embedder's config may inherit one and declare C{wants =
    {REPLAYED_RESPONSES}} to turn tracking on.
  - Malformed lines (not hex, odd length, no meta line, a bad meta line,
    no payload, too long) are counted as C{malformed}, logged at most once
    a second, and skipped; never fatal.
  - The child's stderr is logged line by line at info (lines cut at 4 KiB,
    at most 50 lines a second; the rest counted as
    C{stderr_lines_not_logged}).
  - A middleware that exits while gor runs: its exit status is logged, what
    it wrote before is delivered, what was queued for it is counted as
    C{dropped.stopped}, and gor stops and exits 1 naming it (GoReplay keeps
    running with a dead pipeline). At exit gor writes what is queued,
    closes the child's stdin, delivers what it still writes, and kills it
    after C{--middleware-timeout} (5 s).
  - Stopping order: inputs, the stage, then the outputs; replayed responses
    that arrive after the stage stopped are counted as C{dropped.stopped}.
  - A message is I{taken} (for the acknowledging relay) once the stage
    queued it for the middleware.
  - C{--middleware} is split on spaces without a shell (as GoReplay; empty
    pieces dropped); the program must exist (else exit 2). The child gets
    gor's environment and working directory.
  - C{--middleware-python MODULE:NAME}: NAME is an object providing
    L{twisted_gor.IMiddleware} or a callable returning one; MODULE must be
    importable (C{PYTHONPATH}). Same counters; C{handleMessage} may return
    a Deferred, whose message counts against the budget until it fires;
    an exception or failure counts as C{errors} (the message dropped).
    Only one middleware at a time.
"""
