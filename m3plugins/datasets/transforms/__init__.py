"""Data transforms; importing this module registers them into TRANSFORMS."""
