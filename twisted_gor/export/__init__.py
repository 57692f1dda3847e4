"""
Exports of replay metadata: C{--output-http-elasticsearch}.

Modules: L{elasticsearch} (documents built from each replayed request and its
response, sent in C{_bulk} batches with treq), L{flags}.

Decisions:
  - Documents come from the HTTP outputs' replay observations, not from
    type-3 messages, so C{--split-output} and the other outputs are unaffected
    and failed replays are documented too.
  - RTT is in real milliseconds.
"""
