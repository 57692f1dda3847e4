# -*- test-case-name: tests.test_progress -*-
"""
C{--progress}: one updating line on stderr while files are replayed,
C{progress: 12.0 MB of 40.0 MB (30%), 5210 records, 1830 rec/s, ETA 0:15,
failed 3}. On by default when stderr is a terminal and an input knows its
size (L{twisted_gor._interfaces.IProgressSource}); C{--progress} and
C{--no-progress} force it. Log lines clear it and it is drawn again after
them (L{twisted_gor.cli.logformat.ShortLogObserver} calls L{clear} and
L{redraw}).
"""

from __future__ import annotations

from typing import IO, Any

from twisted.internet.task import LoopingCall

from twisted_gor._interfaces import IProgressSource

INTERVAL = 0.5
"""Seconds between two updates."""


def _size(n: float) -> str:
    for unit, scale in (("GB", 1 << 30), ("MB", 1 << 20), ("kB", 1 << 10)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{int(n)} B"


def _clock(seconds: float) -> str:
    seconds = int(seconds + 0.5)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


class ProgressLine:
    """
    The line, for one gor service.

    @ivar shown: the text on screen now (C{""}: none).
    """

    def __init__(self, service: Any, stream: IO[str], clock: Any, tty: bool, interval: float = INTERVAL) -> None:
        self.service = service
        self.stream = stream
        self.clock = clock
        self.tty = tty
        self.interval = interval
        self.shown = ""
        self.written = 0
        self._loop: LoopingCall | None = None
        self._startedAt = 0.0
        self._last: tuple[float, int, int] | None = None
        self._rate = 0.0
        self._recordRate = 0.0

    def sources(self) -> list[Any]:
        """
        The inputs that know their progress.
        """
        return [i for i in self.service.inputs if IProgressSource.providedBy(i)]

    def text(self) -> str | None:
        """
        The line now, or L{None} when no input knows its size yet.
        """
        found = [p for p in (s.progress() for s in self.sources()) if p is not None]
        if not found:
            return None
        done = sum(d for d, _ in found)
        total = sum(t for _, t in found)
        records = sum(s.stats["emitted"] for s in self.sources())
        now = self.clock.seconds()
        if self._last is not None and now > self._last[0]:
            elapsed = now - self._last[0]
            # smoothed, so that the ETA does not jump at every update
            self._rate = 0.7 * self._rate + 0.3 * (done - self._last[1]) / elapsed if self._rate else (done - self._last[1]) / elapsed
            self._recordRate = (
                0.7 * self._recordRate + 0.3 * (records - self._last[2]) / elapsed
                if self._recordRate
                else (records - self._last[2]) / elapsed
            )
        self._last = (now, done, records)
        percent = 100.0 * done / total if total else 100.0
        parts = [f"progress: {_size(done)} of {_size(total)} ({percent:.0f}%)", f"{records} records"]
        if self._recordRate > 0:
            parts.append(f"{self._recordRate:.0f} rec/s")
        if self._rate > 0 and done < total:
            parts.append(f"ETA {_clock((total - done) / self._rate)}")
        failed = sum(o.stats.total("failed") for o in self.service.outputs)
        parts.append(f"failed {failed}")
        return ", ".join(parts)

    def _tick(self) -> None:
        text = self.text()
        if text is None:
            return
        self._write(text)

    def _write(self, text: str) -> None:
        try:
            if self.tty:
                self.stream.write("\r" + text + "\x1b[K")
            else:
                self.stream.write(text + "\n")
            self.stream.flush()
        except (OSError, ValueError):
            return
        self.written += 1
        self.shown = text if self.tty else ""

    def clear(self) -> None:
        """
        Take the line off the screen (a log line is about to be written).
        """
        if self.shown:
            try:
                self.stream.write("\r\x1b[K")
            except (OSError, ValueError):
                pass

    def redraw(self) -> None:
        """
        Put the line back after a log line.
        """
        if self.shown:
            self._write(self.shown)

    def start(self) -> None:
        """
        Update every C{interval} seconds.
        """
        self._startedAt = self.clock.seconds()
        self._loop = LoopingCall(self._tick)
        self._loop.clock = self.clock
        self._loop.start(self.interval, now=False)

    def stop(self) -> None:
        """
        Draw the last state and end the line.
        """
        if self._loop is not None and self._loop.running:
            self._loop.stop()
        self._loop = None
        if not self.written:
            return
        self._tick()
        if self.shown:
            try:
                self.stream.write("\n")
                self.stream.flush()
            except (OSError, ValueError):
                pass
            self.shown = ""
        self.written = 0
