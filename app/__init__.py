"""Common Ground: the live event service."""
