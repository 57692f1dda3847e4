"""
Secrets in URLs are never printed: not at startup, in stats, in the summary,
in usage errors, in failures, nor in twistd's log file (issue 9 item 2).
"""

from __future__ import annotations

import os
import sys

from twisted.trial.unittest import TestCase

from tests.support import freePort, runCommand, runGor, startGor
from twisted_gor.redact import redactText, redactURL

SECRET = "S3cr3tPa55w0rd"


class RedactTests(TestCase):
    """
    L{redactURL} and L{redactText}.
    """

    def test_url(self) -> None:
        """
        The password is replaced, the user and the rest kept; URLs without one
        are unchanged.
        """
        self.assertEqual(redactURL(f"http://alice:{SECRET}@host:8080/p"), "http://alice:***@host:8080/p")
        self.assertEqual(redactURL(f"alice:{SECRET}@host"), "alice:***@host")
        self.assertEqual(redactURL(f"https://:{SECRET}@host"), "https://:***@host")
        self.assertEqual(redactURL("http://alice@host"), "http://alice@host")
        self.assertEqual(redactURL("http://host:80/a@b"), "http://host:80/a@b")
        self.assertEqual(redactURL("host:80"), "host:80")
        self.assertEqual(redactURL(f"http://alice:p@ss:{SECRET}@host/x@y"), "http://alice:***@host/x@y")
        self.assertEqual(redactURL(f"http://alice:{SECRET}@[::1]:80"), "http://alice:***@[::1]:80")

    def test_text(self) -> None:
        """
        Every URL in a text is redacted, quoted or not.
        """
        self.assertEqual(
            redactText(f"bad 'http://a:{SECRET}@h:1' and https://b:{SECRET}@h/x, ok"),
            "bad 'http://a:***@h:1' and https://b:***@h/x, ok",
        )
        self.assertEqual(redactText(f"no host in 'a:{SECRET}@'"), "no host in 'a:***@'")
        self.assertEqual(redactText("nothing here: 10:20 at 5"), "nothing here: 10:20 at 5")

    def test_basicCredential(self) -> None:
        """
        A Basic credential (the handshake of C{--output-ws}) is hidden, as a
        header line or in a logged dict.
        """
        self.assertEqual(redactText("Authorization: Basic YWxpY2U6czNjcjN0\r\n"), "Authorization: Basic ***\r\n")
        self.assertEqual(redactText("{'authorization': 'Basic dXNlcjE='}"), "{'authorization': 'Basic ***'}")
        self.assertEqual(redactText("a basic test"), "a basic test")


class CommandTests(TestCase):
    """
    The real C{gor} and C{twistd gor} with credentials in every URL flag.
    """

    timeout = 120

    def assertNoSecret(self, text: str) -> None:
        self.assertNotIn(SECRET, text)

    def secretArgs(self) -> list[str]:
        dead = freePort()
        return [
            "--input-dummy",
            "x",
            "--output-http",
            f"http://alice:{SECRET}@127.0.0.1:{dead}",
            "--output-http-timeout",
            "200ms",
            "--output-http-stats",
            "--output-http-elasticsearch",
            f"http://bob:{SECRET}@127.0.0.1:{freePort()}/gor",
            "--stats",
            "--stats-interval",
            "100ms",
        ]

    async def test_gor(self) -> None:
        """
        Startup, stats lines, a failing target and the exit summary of C{gor}
        show C{alice:***@}, never the password.
        """
        gor = startGor(*self.secretArgs(), "--output-http-stats-ms", "100", "--verbose")
        await gor.waitForLog("failed.")
        await gor.waitForLog("stats: output_http")
        gor.signal("TERM")
        result = await gor.wait(30)
        text = result.errText + result.out.decode("utf-8", "replace")
        self.assertIn("summary: ", text)
        self.assertIn("alice:***@127.0.0.1", text)
        self.assertNoSecret(text)

    async def test_usageErrors(self) -> None:
        """
        Usage errors that echo a rejected URL show it redacted.
        """
        for args in [
            ["--output-http", f"ftp://alice:{SECRET}@host"],
            ["--output-http", f"http://alice:{SECRET}@host:99999"],
            ["--output-http", f"http://alice:{SECRET}@host/?q=1"],
            ["--output-http", f"alice:{SECRET}@"],
            ["--output-http", "http://h:1", "--output-http-elasticsearch", f"http://bob:{SECRET}@h:1"],
            ["--output-http", "http://h:1", "--output-http-elasticsearch", f"http://bob:{SECRET}@h:x/i"],
        ]:
            result = await runGor("--input-dummy", "x", *args)
            self.assertEqual(result.rc, 2, (args, result.errText))
            self.assertIn("***", result.errText, args)
            self.assertNoSecret(result.errText + result.out.decode())

    async def test_twistdLogfile(self) -> None:
        """
        C{twistd --logfile}: nothing in stdout, stderr or the log file.
        """
        workdir = os.path.abspath(self.mktemp())
        os.makedirs(workdir)
        result = await runCommand(
            sys.executable,
            "-c",
            "from twisted.scripts.twistd import run; run()",
            "-n",
            "--logfile=gor.log",
            "gor",
            *self.secretArgs(),
            "--exit-after",
            "1500ms",
            cwd=workdir,
        )
        self.assertEqual(result.rc, 0, result.errText)
        with open(os.path.join(workdir, "gor.log")) as f:
            log = f.read()
        self.assertIn("summary: ", log)
        self.assertIn("alice:***@127.0.0.1", log)
        self.assertNoSecret(log + result.errText + result.out.decode())
