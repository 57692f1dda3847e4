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
  - A failed write (full disk) closes that output only: the file is cut
    back to its last whole record (gzip streams are sync-flushed after every
    batch so that such a point exists), C{written} counts only what the OS
    took, the rest is C{dropped.write_failed} / C{dropped.closed}, one error
    is logged, the other outputs go on and gor exits 1 (it stops once every
    output failed). Stopping everything would end a replay to staging
    because a recording's disk filled; exiting 0 would hide the loss.
  - Files are created (or truncated) with C{--output-file-mode}, 0600 by
    default, applied exactly whatever the umask: recordings hold production
    traffic, and a group is often wider than it looks (0640 is one flag
    away). A file appended to keeps its mode; devices are never chmodded.
    C{--output-stdout > file} is the shell's file, not ours.
  - A gzip recording is read with L{input.GzipReader}: an error loses
    nothing decompressed before it; a loop over files without one valid
    record fails the input instead of idling.
  - C{FILE|max} from one file goes out in batches (up to
    L{input.BATCH} records a turn) while its records come in order: exactly
    what the reordering window would emit, without a heap operation, a
    pacing call and a pipeline call per record; the first record out of
    order hands the file over to the window for good. The pipeline passes a
    batch whole to the outputs' C{writeMany} (L{twisted_gor._interfaces.IBatchWriter})
    when nothing applies per message; C{--output-file} then buffers one
    joined piece (record sizes kept, so a failed write still counts whole
    records). Any other speed, several files or a dry run: record by record.
"""
