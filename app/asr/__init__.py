"""Speech recognition adapters (the Transcriber port): faster-whisper on this computer in
``app.asr.local``; import the adapter module you need, this package imports nothing heavy."""
