"""Vast.ai: its REST API client, the shapes it sends and takes, its settings and its errors.

Used by the deployer (renting and following instances) and by the server (an idle box stops
its own instance)."""
