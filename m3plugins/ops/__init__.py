"""Operators: the selective scan and its scan geometry."""
