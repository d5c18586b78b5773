"""Models data."""
