"""The server's routes, one module per concern, sharing one
:class:`~remote.server.context.ServerContext` (reached with
:func:`~remote.server.context.context`)."""
