"""The Hark server: Whisper + the Ollama API behind one authenticated endpoint."""
