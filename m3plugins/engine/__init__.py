"""Registered components; importing this module registers them."""
