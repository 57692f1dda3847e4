"""
The twistd plugin and the package layout.
"""

from __future__ import annotations

import os
import sys
import zipfile

from twisted.application.service import IServiceMaker
from twisted.plugin import IPlugin, getPlugins
from twisted.trial.unittest import SynchronousTestCase, TestCase
from zope.interface.verify import verifyObject

from tests.support import REPO, runCommand


class PluginTests(SynchronousTestCase):
    """
    The dropin registers the C{gor} tap.
    """

    def test_found(self) -> None:
        """
        C{gor} is among the service makers, and provides its interfaces.
        """
        makers = {p.tapname: p for p in getPlugins(IServiceMaker)}
        self.assertIn("gor", makers)
        self.assertTrue(verifyObject(IServiceMaker, makers["gor"]))
        self.assertTrue(verifyObject(IPlugin, makers["gor"]))

    def test_noInitInDropinDirectory(self) -> None:
        """
        The checkout must not shadow Twisted's own C{twisted.plugins} package.
        """
        self.assertFalse(os.path.exists(os.path.join(REPO, "twisted", "plugins", "__init__.py")))
        self.assertFalse(os.path.exists(os.path.join(REPO, "twisted", "__init__.py")))

    def test_dropinIsLazy(self) -> None:
        """
        The dropin imports nothing of twisted_gor (every plugin scan imports it).
        """
        with open(os.path.join(REPO, "twisted", "plugins", "twisted_gor_plugin.py")) as f:
            source = f.read()
        self.assertNotIn("import twisted_gor", source)
        self.assertNotIn("reactor", source)


class WheelTests(TestCase):
    """
    The built wheel ships the dropin.
    """

    timeout = 180

    async def test_wheelContainsDropin(self) -> None:
        """
        C{pip wheel .} puts C{twisted/plugins/twisted_gor_plugin.py} in the
        wheel, without any C{__init__.py} beside it.
        """
        out = os.path.abspath(self.mktemp())
        result = await runCommand(
            sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", out, REPO,
            timeout=170,
        )
        self.assertEqual(result.rc, 0, result.errText)
        (wheel,) = [f for f in os.listdir(out) if f.endswith(".whl")]
        names = zipfile.ZipFile(os.path.join(out, wheel)).namelist()
        self.assertIn("twisted/plugins/twisted_gor_plugin.py", names)
        self.assertNotIn("twisted/plugins/__init__.py", names)
        self.assertNotIn("twisted/__init__.py", names)
        self.assertIn("twisted_gor/py.typed", names)
