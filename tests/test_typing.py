"""
The package type-checks with mypy and mypy-zope (interfaces included).
"""

import sys

from twisted.trial.unittest import TestCase

from tests.support import REPO, runCommand


class TypingTests(TestCase):
    """
    mypy over twisted_gor.
    """

    timeout = 300

    async def test_mypy(self) -> None:
        """
        C{mypy twisted_gor} reports no error.
        """
        try:
            import mypy  # noqa: F401
        except ImportError:
            raise self.skipTest("mypy is not installed (pip install .[test])")
        result = await runCommand(sys.executable, "-m", "mypy", "twisted_gor", cwd=REPO, timeout=280)
        self.assertEqual(result.rc, 0, result.out.decode() + result.errText)


