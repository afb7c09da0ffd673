"""Nothing acts without the user's say: the action policy (``policy``), the hash-chained audit
log (``audit``) and the terminal's confirmer (``terminal_confirm``; the desktop's is a dialog in
``app.gui.dialogs``)."""
