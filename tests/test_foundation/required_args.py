"""Arguments for registered modules that cannot be built from defaults alone.

Keep every entry minimal: a module belongs here only if it genuinely needs
an input without a sensible default (a data root, a model to wrap). Values
are kwargs, or callables taking the build context (see ``build_context``).
"""
from contextlib import contextmanager

REQUIRED_ARGS = {}


@contextmanager
def build_context():
    """Temporary resources (generated data roots) shared by the builds."""
    yield {}
