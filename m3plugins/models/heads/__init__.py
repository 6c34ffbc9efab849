"""Heads; importing this module registers them."""
