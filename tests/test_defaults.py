"""
One source of defaults: the configuration built from a minimal command line
is the configuration an embedder gets from the config types' own defaults,
and C{--help} shows those defaults.
"""

from __future__ import annotations

import os
from typing import Any

from twisted.trial.unittest import TestCase

import twisted_gor as gor
from twisted_gor.cli.tap import Options


def parse(*args: str) -> gor.GorConfig:
    options = Options()
    options.parseOptions(list(args))
    assert options.config is not None
    return options.config


class DefaultsTests(TestCase):
    """
    Each input and output configured by its flag alone equals its config
    type constructed with only the required values.
    """

    def setUp(self) -> None:
        self.path = os.path.abspath(self.mktemp())
        with open(self.path, "wb"):
            pass

    def assertSameAsEmbedded(self, args: list[str], kind: str, expected: Any) -> None:
        config = parse(*args)
        got = getattr(config, kind)
        [built] = [c for c in got if type(c) is type(expected)]
        self.assertEqual(built, expected, " ".join(args))

    def test_inputs(self) -> None:
        """
        Inputs: dummy, file, raw, relay, http.
        """
        out = ["--output-null"]
        self.assertSameAsEmbedded(["--input-dummy", "x", *out], "inputs", gor.DummyInputConfig())
        self.assertSameAsEmbedded(
            ["--input-file", self.path, *out], "inputs", gor.FileInputConfig(self.path, paths=[self.path])
        )
        self.assertSameAsEmbedded(["--input-raw", ":80", *out], "inputs", gor.RawInputConfig(":80"))
        self.assertSameAsEmbedded(["--input-tcp", ":28020", *out], "inputs", gor.TCPInputConfig("", 28020))
        self.assertSameAsEmbedded(["--input-http", "127.0.0.1:8080", *out], "inputs", gor.HttpInputConfig("127.0.0.1", 8080))

    def test_outputs(self) -> None:
        """
        Outputs: null, stdout, file, http, relay, Elasticsearch, comparison.
        """
        inp = ["--input-dummy", "x"]
        self.assertSameAsEmbedded([*inp, "--output-null"], "outputs", gor.NullOutputConfig())
        self.assertSameAsEmbedded([*inp, "--output-stdout"], "outputs", gor.StdoutOutputConfig())
        self.assertSameAsEmbedded([*inp, "--output-file", self.path], "outputs", gor.FileOutputConfig(self.path))
        self.assertSameAsEmbedded(
            [*inp, "--output-http", "http://h:1"], "outputs", gor.HttpOutputConfig(gor.parseTarget("http://h:1"))
        )
        self.assertSameAsEmbedded([*inp, "--output-tcp", "h:1"], "outputs", gor.TCPOutputConfig("h", 1))
        self.assertSameAsEmbedded(
            [*inp, "--output-http", "http://h:1", "--output-http-elasticsearch", "h:9200/i"],
            "outputs",
            gor.ElasticsearchOutputConfig(gor.parseElasticsearchURL("h:9200/i")),
        )
        report = os.path.abspath(self.mktemp())
        self.assertSameAsEmbedded([*inp, "--output-compare", report], "outputs", gor.CompareOutputConfig(report))

    def test_general(self) -> None:
        """
        The general settings equal L{GorConfig}'s defaults.
        """
        config = parse("--input-dummy", "x", "--output-null")
        config.inputs, config.outputs = [], []
        self.assertEqual(config, gor.GorConfig())

    def test_helpShowsDefaults(self) -> None:
        """
        C{--help} shows the config types' defaults (a sample of them).
        """
        text = str(Options())
        for flag, shown in [
            ("--input-raw-buffer-size", "32mb"),
            ("--output-http-workers", "-1"),
            ("--output-tcp-queue-len", "10000"),
            ("--input-file-read-depth", "100"),
        ]:
            line = " ".join(text[text.index(flag):].split("\n--")[0].split())
            self.assertIn(shown, line, flag)


class HelpDefaultsTests(TestCase):
    """
    What a flag's help says its default is, is its default.
    """

    def test_helpDefaultsMatch(self) -> None:
        """
        Every "(default X)" in a flag's help parses to the flag's default.
        """
        import re

        from twisted_gor.cli.tap import allFlags

        checked = 0
        for flag in allFlags():
            match = re.search(r"\(default:? ([^;),:]+)[;),:]", flag.help)
            if match is None or flag.repeat:
                continue
            shown = match.group(1).strip()
            if flag.kind == "bool" or not shown[:1].isdigit():
                continue
            self.assertEqual(flag.coerce(shown), flag.default, f"--{flag.name}: help says {shown!r}")
            checked += 1
        self.assertGreater(checked, 15)
