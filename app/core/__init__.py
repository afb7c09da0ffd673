"""The Qt-free, I/O-free heart of Hark: events, errors, ports and the voice turn."""
