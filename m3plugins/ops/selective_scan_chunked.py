"""Fast chunked selective scan for CPUs (placeholder wiring, see below)."""
from .selective_scan_reference import selective_scan_reference as selective_scan_chunked  # noqa
