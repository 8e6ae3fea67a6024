"""wasession: WhatsApp Cloud API chat-session lifecycle service."""

__version__ = "0.1.0"
