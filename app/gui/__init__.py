"""The desktop GUI: the only package that imports Qt (PySide6)."""
