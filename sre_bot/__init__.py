"""sre-bot: a Slack chat-ops SRE assistant that answers from evidence."""

__all__ = ["__version__"]

__version__ = "0.1.0"
