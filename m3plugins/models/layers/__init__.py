"""Layers; importing this module registers them."""
