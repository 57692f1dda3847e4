"""
A middleware program for the tests of C{--middleware}: GoReplay's hex line
protocol on stdin/stdout, one behaviour per mode (first argument).

    echo        write every line back as it came
    rewrite     echo; requests get an extra header "X-Mw: 1" (Content-Length untouched)
    drop        echo, except requests whose path contains /drop
    inject      echo; after each request also write a new request (id "inj" + its id)
    garbage     before each echo write junk: not hex, odd length, no meta, \\r\\n ending
    slow SEC    echo, sleeping SEC seconds before reading each line
    exit N RC   echo N lines, then exit with status RC
    types       echo; log "seen TYPE ID" on stderr for each message
    stderr      echo; log a line on stderr for each message
    plain       echo; log "plain" or "encoded" (a Transfer- or Content-Encoding header) on stderr

It uses only the standard library, as a user's script would.
"""

from __future__ import annotations

import sys
import time


def main(argv: list[str]) -> int:
    mode = argv[1] if len(argv) > 1 else "echo"
    out = sys.stdout.buffer
    count = 0
    for raw in sys.stdin.buffer:
        line = raw.rstrip(b"\n")
        data = bytes.fromhex(line.decode("ascii"))
        meta, _, payload = data.partition(b"\n")
        fields = meta.split(b" ")
        kind, id_ = fields[0], fields[1]
        count += 1
        if mode == "slow":
            time.sleep(float(argv[2]))
        if mode == "types":
            sys.stderr.write(f"seen {kind.decode()} {id_.decode()}\n")
            sys.stderr.flush()
        if mode == "plain":
            head = payload.partition(b"\r\n\r\n")[0].lower()
            encoded = b"\ntransfer-encoding:" in head or b"\ncontent-encoding:" in head
            sys.stderr.write("encoded\n" if encoded else "plain\n")
            sys.stderr.flush()
        if mode == "stderr":
            sys.stderr.write(f"middleware saw message {count}\n")
            sys.stderr.flush()
        if mode == "garbage":
            out.write(b"zz-not-hex\n")
            out.write(b"abc\n")
            out.write(b"6e6f206d657461\n")  # "no meta"
            out.write(line + b"\r\n")
        if mode == "drop" and kind == b"1" and b"/drop" in payload.split(b"\r\n", 1)[0]:
            continue
        if mode == "rewrite" and kind == b"1":
            head, sep, rest = payload.partition(b"\r\n")
            payload = head + sep + b"X-Mw: 1\r\n" + rest
            line = (meta + b"\n" + payload).hex().encode()
        out.write(line + b"\n")
        if mode == "inject" and kind == b"1":
            new = b"1 inj" + id_ + b" " + fields[2] + b" -1\nGET /injected HTTP/1.1\r\nHost: x\r\n\r\n"
            out.write(new.hex().encode() + b"\n")
        out.flush()
        if mode == "exit" and count >= int(argv[2]):
            return int(argv[3])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
