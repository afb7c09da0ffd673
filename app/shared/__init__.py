"""The shared leaf: what every layer may use and that imports nothing of Hark's above it.

Errors with codes, the wire protocol between the desktop and its server, TLS pinning, where
Hark's files live (paths, bundled resources). Nothing here imports another Hark package.
"""
