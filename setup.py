"""
Build script for the optional compiled speed-ups only; the package metadata
lives in pyproject.toml.

Each entry of L{SPEEDUPS} is a Cython module that has a pure-Python twin in
the package, so a machine where it does not compile still installs and runs
(each extension is C{optional}); C{TWISTED_GOR_PURE=1} in the environment makes
the package use the pure-Python twins even when the compiled ones exist (the
differential tests run both).
"""

from setuptools import setup
from setuptools.extension import Extension

SPEEDUPS: list[tuple[str, str]] = [
    # (module name, Cython source), e.g.
    # ("twisted_gor.raw._fastcapture", "twisted_gor/raw/_fastcapture.pyx"),
    ("twisted_gor._framing", "twisted_gor/_framing.pyx"),
    ("twisted_gor.http._cfastpath", "twisted_gor/http/_cfastpath.pyx"),
    ("twisted_gor.raw._fastcapture", "twisted_gor/raw/_fastcapture.pyx"),
]


def extensions() -> list[Extension]:
    """
    The compiled speed-ups, cythonized (Cython is a build requirement).
    """
    if not SPEEDUPS:
        return []
    from Cython.Build import cythonize

    modules = [Extension(name, [source], optional=True) for name, source in SPEEDUPS]
    return cythonize(modules, language_level=3, quiet=True)


setup(ext_modules=extensions())
