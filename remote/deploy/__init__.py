"""Creating, watching and stopping the Hark server on a rented GPU."""
