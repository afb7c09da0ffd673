"""What the tests share: clocks and recorded sleeps, notice collectors, TLS certificates,
test speech and the Whisper tiny.en model, and the servers the fakes run on (127.0.0.1).

Fixtures live in the conftest.py files (each defined once); the classes and functions here are
imported by the tests that need them. Helpers used by one test package only stay in that
package's helper modules (``tests/core/scripted.py``, ``tests/gui/harness.py``, ...).
"""
