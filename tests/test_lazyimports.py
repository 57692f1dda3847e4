"""
The heavy client libraries (librdkafka through confluent-kafka, autobahn,
prometheus_client) are imported only by a gor that uses them: a capture agent
with --output-file pays neither their start-up time nor their memory.
"""

from __future__ import annotations

import subprocess
import sys

from twisted.trial.unittest import TestCase

from tests.support import REPO

HEAVY = ("confluent_kafka", "autobahn", "prometheus_client")

_PROBE = """
import importlib, json, sys
from twisted_gor.cli import tap
from twisted_gor.service import makeGorService
for name in tap.AREAS:
    importlib.import_module(name)
options = tap.Options()
options.parseOptions(sys.argv[1:])
makeGorService(options.config)
print(json.dumps([m for m in {heavy!r} if m in sys.modules]))
"""


class LazyImportTests(TestCase):
    """
    Parsing a command line and loading every area's flags imports none of
    the heavy libraries unless a flag asks for them.
    """

    def loaded(self, *argv: str) -> list[str]:
        import json
        import os

        cwd = os.path.abspath(self.mktemp())
        os.makedirs(cwd)
        open(os.path.join(cwd, "a.gor"), "wb").close()
        out = subprocess.run(
            [sys.executable, "-c", _PROBE.format(heavy=HEAVY), *argv],
            cwd=cwd,
            env=dict(os.environ, PYTHONPATH=REPO),
            capture_output=True,
            text=True,
            timeout=60,
        )
        self.assertEqual(out.returncode, 0, out.stderr)
        return list(json.loads(out.stdout.strip().splitlines()[-1]))

    def test_plainCommandLine(self) -> None:
        """
        A file-to-file gor loads no heavy library.
        """
        self.assertEqual(self.loaded("--input-file", "a.gor", "--output-file", "b.gor"), [])
