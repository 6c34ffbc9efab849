"""Backbones; importing this module registers them."""
