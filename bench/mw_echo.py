"""
An echo middleware for bench/bench_middleware.py, written the way GoReplay's
examples/middleware/echo.py users write theirs: decode each hex line,
re-encode it, write it back with a flush.
"""

import sys


def main() -> None:
    out = sys.stdout.buffer
    for line in sys.stdin.buffer:
        data = bytes.fromhex(line.rstrip(b"\n").decode("ascii"))
        out.write(data.hex().encode("ascii") + b"\n")
        out.flush()


if __name__ == "__main__":
    main()
