"""Generators of plant data whose defects arise in different ways, each with its truth."""
