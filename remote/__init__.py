"""Everything that runs on, or creates, the Hark GPU server."""
