# -*- test-case-name: tests.test_options -*-
"""
The command line of gor, shared by C{twistd gor} and the C{gor} command.

The options are generated from the L{twisted_gor.flags.Flag} lists of every
area (see L{AREAS}), so each flag is declared once, with its GoReplay name,
its old Gor spellings and its one-line help.
"""

from __future__ import annotations

import difflib
import os
import re
import sys
from importlib import import_module
from typing import Any, Callable, Sequence

from twisted.python import usage

from twisted_gor.config import GorConfig
from twisted_gor.flags import BOOL, INT, Flag, FlagValues, defaultValues
from twisted_gor.redact import redactText

AREAS = (
    "twisted_gor.coreflags",
    "twisted_gor.basic.flags",
    "twisted_gor.files.flags",
    "twisted_gor.http.flags",
    "twisted_gor.raw.flags",
    "twisted_gor.relay.flags",
    "twisted_gor.export.flags",
    "twisted_gor.compare.flags",
    "twisted_gor.middleware.flags",
    "twisted_gor.ws.flags",
    "twisted_gor.cli.refused",
    "twisted_gor.kafka.flags",
    "twisted_gor.metrics.flags",
)
"""Modules that declare C{FLAGS} and C{configure(values, config)}, in order."""


def _areaModules() -> list[Any]:
    return [import_module(name) for name in AREAS]


def allFlags() -> list[Flag]:
    """
    Every flag of every area.
    """
    flags: list[Flag] = []
    for module in _areaModules():
        flags.extend(module.FLAGS)
    return flags


def buildConfig(values: FlagValues) -> GorConfig:
    """
    Turn parsed flag values into a L{GorConfig}.

    @raise ValueError: a value that is well-formed but unusable; the message
        starts with the flag's name.
    """
    config = GorConfig()
    for module in _areaModules():
        module.configure(values, config)
    return config


HELP_ARGUMENTS = frozenset({"-h", "-help", "--help"})
"""What asks for the usage (Go's flag package takes C{-h} and C{-help})."""

_NOT_RECOGNIZED = re.compile(r"^(?:option )?-{1,2}(?P<name>[\w-]+) not recognized$")


def writeAndExit(text: str, stream: Any = None) -> None:
    """
    Write C{text} to stdout and exit 0; a reader that went away
    (C{gor --help | head}) ends it quietly.
    """
    stream = sys.stdout if stream is None else stream
    try:
        stream.write(text)
        stream.flush()
    except BrokenPipeError:
        # Python flushes stdout again at exit: point it at /dev/null first.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, stream.fileno())
    raise SystemExit(0)


def suggest(name: str, known: Sequence[str]) -> str:
    """
    C{"; did you mean --X?"} for the declared flag closest to C{name}, or C{""}.
    """
    close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
    return f"; did you mean --{close[0]}?" if close else ""


class UsageFailure(SystemExit):
    """
    The command line was rejected; the process exits 2 after one line on stderr.
    """


def _flagHandler(flag: Flag, store: Callable[["Options", Flag, Any], None]) -> Callable[..., None]:
    if flag.kind == BOOL:

        def handleFlag(self: "Options") -> None:
            store(self, flag, True)

        handler: Callable[..., None] = handleFlag
    else:

        def handleValue(self: "Options", value: str) -> None:
            try:
                coerced = flag.coerce(value)
            except ValueError as e:
                raise usage.UsageError(f"--{flag.name}: {e}") from None
            store(self, flag, coerced)

        handler = handleValue
    handler.__doc__ = flag.help
    handler.__name__ = "opt_" + flag.name.replace("-", "_")
    return handler


def _store(options: "Options", flag: Flag, value: Any) -> None:
    values = options.flagValues
    values.given.add(flag.name)
    if flag.repeat:
        values.values[flag.name].append(value)
    else:
        values.values[flag.name] = value


_TRUE = {"true", "1", "t", "yes"}
_FALSE = {"false", "0", "f", "no"}


class Options(usage.Options):
    """
    Options of C{twistd gor} and C{gor}: GoReplay's flags and Gor's old names.
    """

    synopsis = "Usage: gor [options]  (at least one --input-* and one --output-*)"
    longdesc = (
        "Capture live HTTP traffic and replay it (GoReplay-compatible). "
        "Example: gor --input-raw :80 --output-http http://staging"
    )

    _flags: list[Flag] = []
    _byName: dict[str, Flag] = {}

    def __init__(self) -> None:
        usage.Options.__init__(self)
        self.flagValues = defaultValues(self._flags)
        self.config: GorConfig | None = None

    @classmethod
    def install(cls, flags: Sequence[Flag]) -> None:
        """
        Generate an C{opt_} method per flag and alias.
        """
        cls._flags = list(flags)
        cls._byName = {}
        for flag in flags:
            for name in (flag.name, *flag.aliases):
                if name in cls._byName:
                    raise RuntimeError(f"flag --{name} declared twice")
                cls._byName[name] = flag
                handler = _flagHandler(flag, _store)
                if name != flag.name:
                    handler.__doc__ = f"Old name of --{flag.name}."
                setattr(cls, "opt_" + name.replace("-", "_"), handler)

    def normalizeArguments(self, args: Sequence[str]) -> list[str]:
        """
        Rewrite Go-style arguments into what L{usage.Options} parses:
        C{-flag} becomes C{--flag}; C{--bool=false} and C{--bool true} are
        understood; a bare C{--verbose} means level 1.
        """
        out: list[str] = []
        i = 0
        args = list(args)
        while i < len(args):
            arg = args[i]
            i += 1
            if arg == "--":
                out.extend(args[i - 1 :])
                break
            if arg.startswith("-") and not arg.startswith("--") and len(arg) > 2:
                name = arg[1:].split("=", 1)[0]
                if name in self._byName:
                    arg = "-" + arg
            if not arg.startswith("--"):
                out.append(arg)
                continue
            name, eq, value = arg[2:].partition("=")
            flag = self._byName.get(name)
            if flag is None:
                out.append(arg)
                continue
            if flag.kind == BOOL:
                if eq:
                    lowered = value.lower()
                    if lowered in _FALSE:
                        continue
                    if lowered not in _TRUE and not flag.optionalValue:
                        raise usage.UsageError(f"--{name}: invalid boolean value {value!r}")
                    out.append("--" + name)
                    continue
                if i < len(args) and args[i].lower() in _TRUE | _FALSE:
                    if args[i].lower() in _TRUE:
                        out.append("--" + name)
                    i += 1
                    continue
                if name != flag.name and flag.optionalValue and i < len(args) and not args[i].startswith("-"):
                    i += 1  # an old spelling that took a value (--output-dummy X): ignored
                out.append("--" + name)
                continue
            if flag.kind == INT and name == "verbose" and not eq:
                nxt = args[i] if i < len(args) else ""
                if not nxt.lstrip("-").isdigit():
                    out.append("--verbose=1")
                    continue
            out.append(arg)
        return out

    def parseOptions(self, options: Sequence[str] | None = None) -> None:
        """
        Parse, and on a usage error write one line to stderr and exit 2.
        """
        if options is None:
            options = sys.argv[1:]
        options = list(options)
        before = options[: options.index("--")] if "--" in options else options
        if HELP_ARGUMENTS.intersection(before):
            writeAndExit(self.getUsage())
        try:
            usage.Options.parseOptions(self, self.normalizeArguments(options))
        except usage.UsageError as e:
            # The message may echo a rejected value: a URL's password is hidden.
            message = redactText(str(e))
            unknown = _NOT_RECOGNIZED.match(message)
            if message.startswith("option "):
                message = message[len("option ") :]
            if unknown is not None:
                message += suggest(unknown.group("name"), sorted(self._byName))
            sys.stderr.write(f"gor: {message} (see --help)\n")
            sys.stderr.flush()
            raise UsageFailure(2) from None

    def parseArgs(self, *args: str) -> None:
        """
        gor takes no positional arguments.
        """
        if args:
            raise usage.UsageError(f"unexpected argument {args[0]!r}")

    def postOptions(self) -> None:
        """
        Build the typed configuration; every cross-flag check happens here.
        """
        try:
            config = buildConfig(self.flagValues)
        except ValueError as e:
            raise usage.UsageError(str(e)) from None
        if not config.inputs or not config.outputs:
            raise usage.UsageError("required at least 1 input and 1 output (--input-* and --output-*)")
        try:
            config.enabledCapabilities()
        except ValueError as e:
            raise usage.UsageError(str(e)) from None
        self.config = config

    def getUsage(self, width: int | None = None) -> str:
        """
        The grouped help (L{twisted_gor.cli.helptext}).
        """
        from twisted_gor.cli.helptext import groups, renderHelp

        extra = [("-h, --help", "Show this help and exit."), ("--version", "Print the version and exit.")]
        return renderHelp(self.synopsis, self.longdesc, groups(_areaModules()), extra, width)

    def opt_help(self) -> None:
        """
        Show this help and exit.
        """
        writeAndExit(self.getUsage())

    def opt_version(self) -> None:
        """
        Print the version and exit.
        """
        from twisted_gor import __version__

        sys.stdout.write(f"gor (twisted-gor) {__version__}\n")
        sys.exit(0)


Options.install(allFlags())


def makeService(options: Options) -> Any:
    """
    The twistd entry point: build the gor service from parsed options.

    Under twistd the process stops once the pipeline is done (C{--exit-after}
    elapsed, or every C{--input-file} consumed).
    """
    from twisted.internet import reactor

    from twisted_gor.cli.signals import installQuietSignals
    from twisted_gor.service import makeGorService

    assert options.config is not None
    service = makeGorService(options.config)
    service.stopReactorWhenDone = True
    installQuietSignals(reactor)
    return service
