# -*- test-case-name: tests.test_plugin -*-
"""
twistd plugin dropin for twisted-gor: C{twistd gor --input-raw :80 ...}.

Kept lazy: nothing of twisted_gor is imported until the plugin is used.
"""

from twisted.application.service import ServiceMaker

TwistedGor = ServiceMaker(
    "twisted-gor",
    "twisted_gor.cli.tap",
    "Capture live HTTP traffic and replay it (GoReplay-compatible).",
    "gor",
)
