"""
HTTP replay: C{--output-http}, the HTTP modifiers and C{--input-http}.

Modules: C{output} (C{--output-http}: queue, workers, target parsing),
C{client} (the raw HTTP/1.1 client connection), C{sessions}
(C{--recognize-tcp-sessions}: one connection per captured session),
C{circuit} (backing off a dead target), C{modifiers} (filters and rewrites),
C{input} (C{--input-http}), C{tls}, C{flags}.

Decisions:
  - Session replay paces on the input: a request is sent at the later of
    its arrival (plus its session's lag) and the previous answer; the output
    never re-times records itself. See L{twisted_gor.http.sessions}.
  - A lost answer does not end a session: the request times out and the
    session continues on a new connection.
"""
