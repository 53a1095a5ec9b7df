"""Linli's core: models, coded errors, clock, secrets and text; imports nothing of Linli above it."""
