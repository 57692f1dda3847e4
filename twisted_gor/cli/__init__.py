"""
Entry points: the C{gor} command, C{twistd gor} and the built-in demo.

Modules: L{tap} (the options generated from every area's flags and the
twistd C{makeService}), L{script} (the C{gor} command: the same service in
the foreground, logging to stderr), L{demo} (C{python -m twisted_gor.cli.demo}),
L{helptext} (the grouped C{--help}), L{logformat} (short log lines),
L{progress} (the progress line of file replays), L{startup} (start-up
failures in one line), L{signals} (quiet repeated signals).

Entry points only turn flags into a typed L{twisted_gor.GorConfig} and call
the public API; no input or output logic lives here.
"""
