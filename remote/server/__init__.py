"""The Hark server: Whisper + the Ollama API behind one authenticated endpoint.

``remote.server.app.create_app(ServerSettings())`` builds the app (see that module for how to
run it under uvicorn); ``remote.server.settings`` lists every ``HARK_SERVER__*`` setting. This
package file imports nothing heavy, so the desktop side may import ``remote`` freely.
"""
