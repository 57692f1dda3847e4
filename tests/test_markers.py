"""
Every C{test-case-name} marker (the Emacs-style first-line comment that
C{trial --testmodule} and editors use to find a module's tests) names test
modules that exist.
"""

from __future__ import annotations

import importlib.util
import os
import re

from twisted.trial.unittest import SynchronousTestCase

from tests.support import REPO

MARKER = re.compile(r"-\*-.*\btest-case-name:\s*([^;]*?)\s*(?:;.*)?-\*-")
"""C{# -*- test-case-name: a.b, c.d -*-}, possibly among other variables."""

SOURCES = ("twisted_gor", os.path.join("twisted", "plugins"))
"""Where the markers live (relative to the checkout)."""


def markers(root: str = REPO) -> dict[str, list[str]]:
    """
    The test modules named by the marker of every Python file under
    L{SOURCES}, keyed by the file's path relative to C{root}; trial (like
    Emacs) reads the marker from the first two lines only.
    """
    found: dict[str, list[str]] = {}
    for source in SOURCES:
        for directory, _, files in os.walk(os.path.join(root, source)):
            for name in sorted(files):
                if not name.endswith(".py"):
                    continue
                path = os.path.join(directory, name)
                with open(path, encoding="utf-8") as f:
                    head = [f.readline(), f.readline()]
                for line in head:
                    match = MARKER.search(line)
                    if match:
                        modules = [m.strip() for m in match.group(1).split(",") if m.strip()]
                        found[os.path.relpath(path, root)] = modules
                        break
    return found


class MarkerTests(SynchronousTestCase):
    """
    The markers point at real test modules.
    """

    def test_markersFound(self) -> None:
        """
        The scan sees the markers (so an empty result cannot pass silently).
        """
        found = markers()
        self.assertIn(os.path.join("twisted_gor", "service.py"), found)
        self.assertIn(os.path.join("twisted", "plugins", "twisted_gor_plugin.py"), found)

    def test_markersNameExistingModules(self) -> None:
        """
        Every module a marker names can be imported from the checkout, and is
        a test module (C{tests.test_*}).
        """
        missing = []
        for path, modules in sorted(markers().items()):
            if not modules:
                missing.append(f"{path}: empty marker")
            for module in modules:
                if not re.fullmatch(r"tests\.test_\w+", module):
                    missing.append(f"{path}: {module} is not a tests.test_* module")
                elif importlib.util.find_spec(module) is None:
                    missing.append(f"{path}: {module} does not exist")
        self.assertEqual(missing, [], "\n".join(missing))

    def test_parse(self) -> None:
        """
        Several comma-separated modules, other variables and spacing.
        """

        def named(line: str) -> str | None:
            match = MARKER.search(line)
            return match.group(1) if match else None

        self.assertEqual(named("# -*- test-case-name: tests.a,tests.b -*-"), "tests.a,tests.b")
        self.assertEqual(named("# -*- coding: utf-8; test-case-name: tests.a, tests.b; -*-"), "tests.a, tests.b")
        self.assertIsNone(named("# test-case-name: tests.a"))
