"""Google Calendar and Gmail: OAuth, the API clients and the tools the model may call."""
