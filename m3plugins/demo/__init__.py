"""Deterministic built-in demo data (no downloads)."""
