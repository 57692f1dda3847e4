"""
Tests for the command line: L{twisted_gor.cli.tap.Options} and L{twisted_gor.flags}.
"""

import io
import sys

from twisted.trial.unittest import SynchronousTestCase

from twisted_gor.basic.components import NullOutputConfig, StdoutOutputConfig
from twisted_gor.files.input import FileInputConfig
from twisted_gor.files.output import FileOutputConfig
from twisted_gor.flags import parseDuration, parseSize
from twisted_gor.limiter import AbsoluteLimit, PercentageLimit
from twisted_gor.cli.tap import Options, UsageFailure, allFlags


class ValueSyntaxTests(SynchronousTestCase):
    """
    GoReplay's durations and sizes.
    """

    def test_durations(self) -> None:
        """
        Go durations, and bare numbers as seconds.
        """
        self.assertEqual(parseDuration("500ms"), 0.5)
        self.assertEqual(parseDuration("1m30s"), 90.0)
        self.assertEqual(parseDuration("1h"), 3600.0)
        self.assertEqual(parseDuration("3"), 3.0)
        self.assertRaises(ValueError, parseDuration, "3 parsecs")

    def test_sizes(self) -> None:
        """
        GoReplay's size literals (S1), and the old k/m/g suffixes.
        """
        self.assertEqual(parseSize("42mb"), 42 << 20)
        self.assertEqual(parseSize("4_2"), 42)
        self.assertEqual(parseSize("0_600tb"), 384 << 40)
        self.assertEqual(parseSize("0o12Mb"), 10 << 20)
        self.assertEqual(parseSize("0b_10010001111_1kb"), 2335 << 10)
        self.assertEqual(parseSize("0x12gB"), 18 << 30)
        self.assertEqual(parseSize("0x_67_7a_2f_cc_40_c6"), 113774485586118)
        self.assertEqual(parseSize("32m"), 32 << 20)
        self.assertRaises(ValueError, parseSize, "lots")


class OptionsTests(SynchronousTestCase):
    """
    Parsing into a typed configuration.
    """

    def setUp(self) -> None:
        self.gorFile = self.mktemp()
        with open(self.gorFile, "wb") as f:
            f.write(b"")

    def parse(self, *args: str) -> Options:
        options = Options()
        options.parseOptions(list(args))
        return options

    def assertUsageError(self, *args: str) -> str:
        err = io.StringIO()
        self.patch(sys, "stderr", err)
        exc = self.assertRaises(UsageFailure, self.parse, *args)
        self.assertEqual(exc.code, 2)
        text = err.getvalue()
        self.assertEqual(text.count("\n"), 1, text)
        return text

    def test_repeatable(self) -> None:
        """
        Repeating --input-file and --output-file gives one of each per value.
        """
        other = self.mktemp()
        open(other, "w").close()
        o = self.parse("--input-file", self.gorFile, "--input-file", other, "--output-file", "a.gor", "--output-file", "b.gor")
        assert o.config is not None
        self.assertEqual([type(c) for c in o.config.inputs], [FileInputConfig, FileInputConfig])
        self.assertEqual([c.pathTemplate for c in o.config.outputs], ["a.gor", "b.gor"])  # type: ignore[attr-defined]

    def test_limits(self) -> None:
        """
        C{|N} limits outputs; C{|N%} on --input-file is a speed.
        """
        o = self.parse("--input-file", self.gorFile + "|200%", "--output-file", "a.gor|10")
        assert o.config is not None
        self.assertEqual(o.config.inputs[0].speed, 2.0)  # type: ignore[attr-defined]
        self.assertIsNone(o.config.inputs[0].limit)
        self.assertEqual(o.config.outputs[0].limit, AbsoluteLimit(10))
        o = self.parse("--input-file", self.gorFile + "|5", "--output-null")
        assert o.config is not None
        self.assertEqual(o.config.inputs[0].limit, AbsoluteLimit(5))
        o = self.parse("--input-dummy", "x|50%", "--output-null")
        assert o.config is not None
        self.assertEqual(o.config.inputs[0].limit, PercentageLimit(50))

    def test_oldAndNewNames(self) -> None:
        """
        Gor's --output-dummy is --output-stdout; Go-style single dashes work.
        """
        for args in (["--output-dummy"], ["--output-dummy=x"], ["-output-stdout"], ["--output-stdout=true"]):
            o = self.parse("--input-dummy", "0", *args)
            assert o.config is not None
            self.assertEqual([type(c) for c in o.config.outputs], [StdoutOutputConfig], args)

    def test_boolForms(self) -> None:
        """
        C{--split-output true} (the seed's form), C{=false} and bare flags.
        """
        o = self.parse("--input-dummy", "0", "--output-null", "--split-output", "true")
        assert o.config is not None
        self.assertTrue(o.config.splitOutput)
        o = self.parse("--input-dummy", "0", "--output-null", "--split-output=false")
        assert o.config is not None
        self.assertFalse(o.config.splitOutput)
        o = self.parse("--input-dummy", "0", "--split-output", "--output-null")
        assert o.config is not None
        self.assertTrue(o.config.splitOutput)
        self.assertEqual([type(c) for c in o.config.outputs], [NullOutputConfig])

    def test_verbose(self) -> None:
        """
        --verbose N, a bare --verbose (old bool) and --debug.
        """
        for args, level in ((["--verbose", "2"], 2), (["--verbose"], 1), (["--debug"], 3), ([], 0)):
            o = self.parse("--input-dummy", "0", "--output-null", *args)
            assert o.config is not None
            self.assertEqual(o.config.verbose, level)

    def test_exitAfter(self) -> None:
        """
        --exit-after takes a Go duration.
        """
        o = self.parse("--input-dummy", "0", "--output-null", "--exit-after", "1m30s")
        assert o.config is not None
        self.assertEqual(o.config.exitAfter, 90.0)

    def test_errors(self) -> None:
        """
        Unknown flags, bad values, missing files and missing outputs exit 2 with
        one line naming the problem.
        """
        self.assertIn("--bogus", self.assertUsageError("--bogus"))
        self.assertIn("--exit-after", self.assertUsageError("--input-dummy", "0", "--output-null", "--exit-after", "soon"))
        self.assertIn("--input-file", self.assertUsageError("--input-file", "/no/such.gor", "--output-null"))
        self.assertIn("--output-file", self.assertUsageError("--input-dummy", "0", "--output-file", "x.gor|fast"))
        self.assertIn("--split-output", self.assertUsageError("--input-dummy", "0", "--output-null", "--split-output=maybe"))
        self.assertIn("1 output", self.assertUsageError("--input-dummy", "0"))
        self.assertIn("argument", self.assertUsageError("--input-dummy", "0", "--output-null", "stray"))

    def test_helpListsEveryFlag(self) -> None:
        """
        The help text names every flag and alias with an explanation.
        """
        text = str(Options())
        for flag in allFlags():
            for name in (flag.name, *flag.aliases):
                self.assertIn("--" + name, text)
            self.assertTrue(flag.help)
