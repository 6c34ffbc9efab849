"""Necks; importing this module registers them."""
