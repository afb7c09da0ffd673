"""The ``hark`` command line: one module per subcommand, the parser and dispatch in ``main``,
terminal helpers in ``terminal``."""
