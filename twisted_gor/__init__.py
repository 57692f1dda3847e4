"""
twisted-gor: capture live HTTP traffic and replay it, on Twisted.

A GoReplay-compatible re-implementation: the same flags, the same ``.gor``
file format and the same gor-to-gor wire format, built from Twisted services.
"""

__version__ = "0.1.0"
