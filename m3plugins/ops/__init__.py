"""Operators: the selective scan and its scan geometry."""
from .cross_scan import NUM_DIRECTIONS, cross_merge, cross_scan
from .selective_scan import (
    SCAN_BACKENDS,
    ScanBackendUnavailable,
    cpu_kernel_available,
    mamba_ssm_available,
    selective_scan,
)
from .selective_scan_chunked import selective_scan_chunked
from .selective_scan_cpu_kernel import selective_scan_cpu_kernel
from .selective_scan_reference import selective_scan_reference

__all__ = [
    'NUM_DIRECTIONS', 'cross_merge', 'cross_scan', 'SCAN_BACKENDS',
    'ScanBackendUnavailable', 'cpu_kernel_available', 'mamba_ssm_available',
    'selective_scan', 'selective_scan_chunked', 'selective_scan_cpu_kernel',
    'selective_scan_reference'
]
