"""Import m3plugins before any test module imports mmseg.

m3plugins installs its mmcv-lite compatibility shims on import; a test file
collected on its own (``pytest tests/test_mobanet/test_x.py``) would
otherwise reach ``mmseg.utils`` through ``mobanet_helpers`` first.
"""
import m3plugins  # noqa: F401
