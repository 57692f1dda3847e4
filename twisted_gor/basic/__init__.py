"""
Built-in simple components: C{--input-dummy}, C{--output-null} and
C{--output-stdout} (Gor's C{--output-dummy}).

Modules: L{components} (the input and outputs), L{flags}.

Decisions:
  - C{--output-stdout} writes .gor framing; a pipe or terminal is written
    without blocking and a slow reader pauses pausable inputs; a regular file
    on stdout is written from a worker thread.
"""
