"""Services: what the bot does for a person, independent of the surface (Slack, console, CLI)."""
