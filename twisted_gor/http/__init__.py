"""
HTTP replay: C{--output-http}, the HTTP modifiers and C{--input-http}.

Modules: C{output} (C{--output-http}: queue, workers, target parsing),
C{client} (the raw HTTP/1.1 client connection), C{sessions}
(C{--recognize-tcp-sessions}: one connection per captured session),
C{circuit} (backing off a dead target), C{modifiers} (filters and rewrites),
C{input} (C{--input-http}), C{tls}, C{flags}, C{fastpath} (the per-request
response framing and Host rewrite, with its compiled twin C{_cfastpath}).

Decisions:
  - Session replay paces on the input: a request is sent at the later of
    its arrival (plus its session's lag) and the previous answer; the output
    never re-times records itself. See L{twisted_gor.http.sessions}.
  - A lost answer does not end a session: the request times out and the
    session continues on a new connection.
  - Speed without a second framer: a response that arrives whole and is
    framed by its head alone (Content-Length, or no body) is decided by
    C{fastpath.frameResponse}, whose pure version calls the shared
    C{_http1.parseHead}; the compiled twin must answer the same for every
    input (differential tests). Everything else takes the shared
    incremental framer.
  - Requests are written at the end of the reactor turn that produced them
    (C{_writenow.WriteBatch}), not one by one as responses are read: the
    target is woken once per turn rather than once per request.
"""
