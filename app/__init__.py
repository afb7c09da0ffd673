"""Hark: an open desktop voice assistant that you own."""

__version__ = "0.1.0"
