"""Backbones; importing this module registers them."""
from .spectral_mamba import SpectralMamba  # noqa: F401
