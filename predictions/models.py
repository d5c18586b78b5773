"""Predictions data."""
