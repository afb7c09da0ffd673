"""The panes of the desktop app: calendar, inbox, conversation."""
