"""Nothing acts without the user's say: the action policy (``policy``, with what it knows of each
tool in ``actions``, its verdicts in ``verdicts``, the repeat and rate checks in ``gate`` and the
asking in ``approval``), the hash-chained audit log (``audit``) and the terminal's confirmer
(``terminal_confirm``; the desktop's is a dialog in ``app.gui.dialogs``)."""
