"""
C{--output-compare report.html}: one self-contained page, rendered in a
real headless Chromium, for a run with known differences.
"""

from __future__ import annotations

import os
import re
import shutil
import struct
import zlib

from twisted.trial.unittest import SkipTest, SynchronousTestCase, TestCase

from tests.support import runCommand, runGor
from tests.test_compare_e2e import chunkedGzip, response
from twisted_gor.compare.html import latencyChart
from twisted_gor.framing import encodeMessage
from twisted_gor.message import Message
from twisted_gor.stats import Histogram

MS = 1_000_000
PRODUCTION_BLUE = (0x3B, 0x6F, 0xD4)
STAGING_ORANGE = (0xE8, 0x83, 0x3A)


def comparisonRecording(pairs: int = 120) -> bytes:
    """
    Requests on three endpoints with both responses: C{/users/N} answers 404
    on staging every 10th time, C{/items/N} has a price that differs, C{/ok}
    is identical; production answers in 2-20 ms, staging in 30-300 ms.
    """
    out = []
    ts = 1_700_000_000 * 10**9
    for n in range(pairs):
        id_ = b"%024x" % (n + 1)
        kind = n % 3
        if kind == 0:
            path, original, replayed = b"/users/%d" % n, response(200, b'{"a":1}'), response(404 if n % 10 == 0 else 200, b'{"a":1}')
        elif kind == 1:
            path, original, replayed = b"/items/%d" % n, response(200, b'{"price":9.99}'), chunkedGzip(b'{"price":10.5}')
        else:
            path, original, replayed = b"/ok", response(200, b'{"k":[1,2]}'), response(200, b'{"k":[1,2]}')
        out.append(encodeMessage(Message(1, id_, ts + n * MS, -1, b"GET " + path + b" HTTP/1.1\r\nHost: prod\r\n\r\n")))
        out.append(encodeMessage(Message(2, id_, ts + n * MS + 1, (2 + n % 19) * MS, original)))
        out.append(encodeMessage(Message(3, id_, ts + n * MS + 2, (30 + (n * 7) % 270) * MS, replayed)))
    return b"".join(out)


def pngPixels(data: bytes) -> tuple[int, int, list[bytes]]:
    """
    Width, height and rows (RGB(A) bytes) of an 8-bit RGB or RGBA PNG.
    """
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, width, height, channels = 8, b"", 0, 0, 0
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        pos += 12 + length
        if kind == b"IHDR":
            width, height, depth, colour = struct.unpack(">IIBB", body[:10])
            assert depth == 8 and colour in (2, 6), (depth, colour)
            channels = 3 if colour == 2 else 4
        elif kind == b"IDAT":
            idat += body
    raw = zlib.decompress(idat)
    stride = width * channels
    rows: list[bytes] = []
    previous = bytearray(stride)
    for y in range(height):
        start = y * (stride + 1)
        filterType, line = raw[start], bytearray(raw[start + 1 : start + 1 + stride])
        for i in range(stride):
            a = line[i - channels] if i >= channels else 0
            b = previous[i]
            c = previous[i - channels] if i >= channels else 0
            if filterType == 1:
                line[i] = (line[i] + a) & 0xFF
            elif filterType == 2:
                line[i] = (line[i] + b) & 0xFF
            elif filterType == 3:
                line[i] = (line[i] + (a + b) // 2) & 0xFF
            elif filterType == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 0xFF
        rows.append(bytes(line))
        previous = line
    return width, channels, rows


def colourCount(rows: list[bytes], channels: int, colour: tuple[int, int, int]) -> int:
    target = bytes(colour)
    return sum(
        1 for row in rows for i in range(0, len(row), channels) if row[i : i + 3] == target
    )


class ChartTests(SynchronousTestCase):
    """
    The inline SVG chart.
    """

    def test_barsByShare(self) -> None:
        """
        Bars are the share of each side's requests per bucket.
        """
        production, staging = Histogram((0.01, 0.1)), Histogram((0.01, 0.1))
        for _ in range(3):
            production.observe(0.005)
        production.observe(0.05)
        staging.observe(0.5)
        svg = latencyChart(production, staging, "x")
        self.assertTrue(svg.startswith("<svg"))
        self.assertEqual(re.findall(r"<title>([\d.]+%)</title>", svg), ["75.0%", "25.0%", "100.0%"])


class HtmlReportTests(TestCase):
    """
    The page of a run with known differences, in headless Chromium.
    """

    timeout = 120

    async def render(self, *arguments: str) -> bytes:
        chromium = shutil.which("chromium") or shutil.which("chromium-browser")
        if chromium is None:
            raise SkipTest("chromium is not installed (scripts/test.sh installs it)")
        result = await runCommand(
            chromium, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--disable-default-apps", "--user-data-dir=" + os.path.abspath(self.mktemp()), *arguments,
            timeout=90,
        )
        self.assertEqual(result.rc, 0, result.errText)
        return result.out

    async def test_renderedPage(self) -> None:
        """
        The page needs nothing from the network; Chromium shows the summary,
        the per-endpoint table, each difference with its JSON path and both
        values, and draws the latency charts in both colours.
        """
        directory = os.path.abspath(self.mktemp())
        os.makedirs(directory)
        recording, page = os.path.join(directory, "in.gor"), os.path.join(directory, "report.html")
        with open(recording, "wb") as f:
            f.write(comparisonRecording())
        result = await runGor("--input-file", recording, "--output-compare", page, timeout=60)
        self.assertEqual(result.rc, 0, result.errText)
        with open(page, encoding="utf-8") as f:
            html = f.read()
        # self-contained: no resource to fetch (the SVG namespace is a name, not a fetch)
        self.assertEqual(re.findall(r"""(?:src|href)\s*=|url\(|@import|<script|<link""", html, re.I), [])
        self.assertEqual(re.findall(r"https?://(?!www\.w3\.org/2000/svg)", html), [])
        dom = (await self.render("--dump-dom", "file://" + page)).decode("utf-8")
        text = re.sub(r"<[^>]+>", " ", dom)
        text = re.sub(r"\s+", " ", text).replace("&gt;", ">").replace("&lt;", "<")
        self.assertIn("120 compared pairs", text)
        self.assertIn("76 identical", text)
        self.assertIn("4 status differs", text)
        self.assertIn("40 body differs", text)
        self.assertIn("GET /users/{id} 40 36 4 0 0 0", text)
        self.assertIn("GET /items/{id} 40 0 0 0 40 0", text)
        self.assertIn("GET /ok 40 40 0 0 0 0", text)
        self.assertIn("$.price 9.99 10.5", text)
        self.assertIn("status 200 404", text)
        self.assertIn("production: p50 ≤10ms, p90 ≤25ms", text)
        self.assertIn("staging: p50 ≤250ms", text)
        self.assertEqual(dom.count("<svg"), 4)  # all endpoints, then each of the three
        screenshot = os.path.join(directory, "report.png")
        await self.render("--window-size=1100,2200", "--screenshot=" + screenshot, "file://" + page)
        with open(screenshot, "rb") as f:
            width, channels, rows = pngPixels(f.read())
        self.assertEqual(width, 1100)
        white = bytes((255, 255, 255))
        ink = sum(1 for row in rows for i in range(0, len(row), channels) if row[i : i + 3] != white)
        self.assertGreater(ink, 50_000)  # not a blank page
        self.assertGreater(colourCount(rows, channels, PRODUCTION_BLUE), 500)
        self.assertGreater(colourCount(rows, channels, STAGING_ORANGE), 500)
        if os.environ.get("GOR_SCREENSHOT_TO"):
            shutil.copy(screenshot, os.environ["GOR_SCREENSHOT_TO"])

    async def test_jsonStaysJson(self) -> None:
        """
        A C{.json} name still gets today's JSON report.
        """
        directory = os.path.abspath(self.mktemp())
        os.makedirs(directory)
        recording, report = os.path.join(directory, "in.gor"), os.path.join(directory, "report.json")
        with open(recording, "wb") as f:
            f.write(comparisonRecording(12))
        result = await runGor("--input-file", recording, "--output-compare", report, timeout=60)
        self.assertEqual(result.rc, 0, result.errText)
        import json

        with open(report) as f:
            self.assertEqual(json.load(f)["totals"]["compared"], 12)
