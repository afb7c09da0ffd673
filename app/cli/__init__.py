"""The ``hark`` command line: one module per subcommand, the parser and dispatch in ``main``,
terminal helpers in ``terminal`` (and ``printer``, the engine's events for ask and listen)."""
