"""
The package, its tests and the twistd dropin type-check with mypy and
mypy-zope (interfaces included).
"""

import sys

from twisted.trial.unittest import TestCase

from tests.support import REPO, runCommand

CHECKED = ("twisted_gor", "tests", "twisted/plugins")
"""
What mypy checks. C{twisted/plugins} has no C{__init__.py} here: with
C{namespace_packages} and C{explicit_package_bases} (pyproject.toml) the
dropin is checked as C{twisted.plugins.twisted_gor_plugin}, inside the
installed C{twisted.plugins} package.
"""


class TypingTests(TestCase):
    """
    mypy over everything in the repository that ships or tests.
    """

    timeout = 300

    async def test_mypy(self) -> None:
        """
        C{mypy twisted_gor tests twisted/plugins} reports no error (the tests
        are held to the package's settings except for untyped test methods,
        see pyproject.toml).
        """
        try:
            import mypy  # noqa: F401
        except ImportError:
            raise self.skipTest("mypy is not installed (pip install .[test])")
        result = await runCommand(sys.executable, "-m", "mypy", *CHECKED, cwd=REPO, timeout=280)
        self.assertEqual(result.rc, 0, result.out.decode() + result.errText)
        # the dropin really was checked (not silently skipped as outside a package)
        verbose = await runCommand(
            sys.executable, "-m", "mypy", "--verbose", "twisted/plugins", cwd=REPO, timeout=280
        )
        self.assertIn("module='twisted.plugins.twisted_gor_plugin'", verbose.errText)
