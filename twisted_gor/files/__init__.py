"""
Recordings: C{--input-file} and C{--output-file} (.gor files, gzip optional).

Modules: L{input} (replay of one or more files on absolute deadlines, with
C{|N%} speed, C{--input-file-loop} and a read-ahead that reorders timestamps),
L{output} (buffered, rotated, optionally compressed writing on a worker
thread), L{names} (C{%} tokens in output names and the C{_N} chunk index),
L{flags}.

Decisions:
  - File I/O runs on one serial worker thread per file
    (L{twisted_gor._blockingio.SerialWorker}), never on the reactor.
  - Only whole records are written, so a stopped gor leaves whole records.
  - Rotation happens only with a size or record limit or C{%} tokens in the
    name (GoReplay chunks by default; we write exactly the path given).
  - C{FILE|max} replays without waits; C{FILE|200%} at twice the speed.
"""
