"""Losses; importing this module registers them."""
