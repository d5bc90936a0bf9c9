"""pmsync: the IT project manager's sync daemon."""

__version__ = "0.1.0"
