"""Segmentors; importing this module registers them."""
