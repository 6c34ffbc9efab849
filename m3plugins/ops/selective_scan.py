"""Public selective-scan API with capability-based backend dispatch.

:func:`selective_scan` has the signature and semantics of mamba-ssm's
``selective_scan_fn`` (Gu & Dao, arXiv 2312.00752) for a real ``A``: see
:mod:`m3plugins.ops.selective_scan_reference` for the exact definition.

Backends (:data:`SCAN_BACKENDS`):

``'auto'``
    On CUDA tensors: mamba-ssm's CUDA kernel when ``mamba_ssm`` imports, else
    the package's Triton kernels when ``triton`` imports (not for float64
    inputs: the kernels compute in float32). Otherwise (CPU, or neither
    imports) the package's own ``'torch'`` implementation. On CPU tensors:
    the package's C++ kernel (``'cpu_kernel'``) when it builds or is
    already built, else ``'torch'``.
``'mamba_ssm'``
    mamba-ssm's kernel; raises :class:`ScanBackendUnavailable` when it cannot
    be used.
``'triton'``
    the package's Triton kernels (:mod:`m3plugins.ops.selective_scan_triton`):
    a forward that keeps only the states at tile boundaries and a backward
    that recomputes the rest. CUDA tensors only, or CPU tensors under Triton's
    interpreter (``TRITON_INTERPRET=1``, for tests); raises
    :class:`ScanBackendUnavailable` otherwise or when ``triton`` does not
    import.
``'cpu_kernel'``
    the package's C++ CPU kernel
    (:mod:`m3plugins.ops.selective_scan_cpu_kernel`): tiles of channels in
    SIMD lanes, parallel over torch's threads, JIT-compiled with
    ``torch.utils.cpp_extension.load_inline`` on first use and cached in
    torch's extension directory. CPU tensors only; raises
    :class:`ScanBackendUnavailable` when it cannot be built (no compiler)
    or the tensors are elsewhere.
``'torch'``
    the package's chunked implementation (any device; no compiler needed):
    a ``torch.autograd.Function`` that keeps only chunk-boundary states and
    recomputes the rest in backward.
``'reference'``
    the readable sequential loop with autograd (slow; for tests).

mamba-ssm and triton are optional and the CPU kernel is built on demand:
all are loaded lazily, on the first scan that may use them, and their
absence never breaks importing this package.

``tools/benchmark_scan.py`` times every implementation against the
sequential loop and ``selective_scan_ref``, and the CPU backends against the
machine bound it measures; its figures are in the README.
On a CPU shared with other busy processes, ``torch.set_num_threads(1)`` can
be faster than several OpenMP threads (they wait for each other at every
op).
"""
import functools
import os
from collections.abc import Callable

import torch
from torch import Tensor

from .selective_scan_reference import selective_scan_reference

#: Names accepted by ``backend`` (and by ``scan_backend`` of the SS2D layers).
SCAN_BACKENDS = ('auto', 'mamba_ssm', 'triton', 'cpu_kernel', 'torch',
                 'reference')


class ScanBackendUnavailable(RuntimeError):
    """A forced scan backend cannot run here (not installed, wrong device)."""


@functools.cache
def _load_mamba_ssm() -> tuple:
    """Imports mamba-ssm's kernel once; returns ``(fn or None, reason)``."""
    try:
        from mamba_ssm.ops.selective_scan_interface import selective_scan_fn
    except Exception as err:  # ImportError, or a broken CUDA extension
        return None, f'{type(err).__name__}: {err}'
    return selective_scan_fn, ''


def mamba_ssm_available() -> bool:
    """Whether mamba-ssm's selective-scan kernel imports in this process."""
    return _load_mamba_ssm()[0] is not None


@functools.cache
def _load_triton() -> tuple:
    """Import the package's Triton scan once.

    Returns:
        tuple: ``(selective_scan_triton or None, reason it failed or '')``.
    """
    try:
        from .selective_scan_triton import selective_scan_triton
    except Exception as err:  # ImportError, or a triton that cannot initialise
        return None, f'{type(err).__name__}: {err}'
    return selective_scan_triton, ''


def triton_available() -> bool:
    """Whether the package's Triton selective scan imports in this process."""
    return _load_triton()[0] is not None


def _load_cpu_kernel() -> tuple:
    """Builds or loads the C++ CPU kernel once per process.

    Returns:
        tuple: ``(kernel module or None, reason it is unavailable or '')``.
    """
    from .selective_scan_cpu_kernel import load_cpu_kernel
    return load_cpu_kernel()


def cpu_kernel_available() -> bool:
    """Whether the C++ CPU kernel builds (or is built) and loads here."""
    return _load_cpu_kernel()[0] is not None


def triton_interpreter_enabled() -> bool:
    """Whether ``TRITON_INTERPRET=1`` is set (kernels run on CPU tensors)."""
    return os.environ.get('TRITON_INTERPRET', '') == '1'


def _check_inputs(u, delta, A, B, C, D, z, delta_bias) -> None:
    if u.dim() != 3:
        raise ValueError(f'u must be (batch, D, L), got {tuple(u.shape)}')
    batch, channels, length = u.shape
    if delta.shape != u.shape:
        raise ValueError(f'delta must have the shape of u {tuple(u.shape)}, '
                         f'got {tuple(delta.shape)}')
    if A.is_complex():
        raise ValueError('only a real-valued A is supported')
    if A.dim() != 2 or A.shape[0] != channels:
        raise ValueError(f'A must be (D={channels}, N), got {tuple(A.shape)}')
    state = A.shape[1]
    for name, BC in (('B', B), ('C', C)):
        if BC.dim() == 3:
            groups = 1
            ok = BC.shape == (batch, state, length)
        elif BC.dim() == 4:
            groups = BC.shape[1]
            ok = (BC.shape[0] == batch and BC.shape[2:] == (state, length)
                  and groups > 0 and channels % groups == 0)
        else:
            ok = False
        if not ok:
            raise ValueError(
                f'{name} must be (batch={batch}, N={state}, L={length}) or '
                f'(batch, G, N, L) with G dividing D={channels}, '
                f'got {tuple(BC.shape)}')
    if B.dim() == 4 and C.dim() == 4 and B.shape[1] != C.shape[1]:
        raise ValueError(f'B and C must have the same number of groups, got '
                         f'{B.shape[1]} and {C.shape[1]}')
    for name, vec in (('D', D), ('delta_bias', delta_bias)):
        if vec is not None and vec.shape != (channels, ):
            raise ValueError(
                f'{name} must be ({channels},), got {tuple(vec.shape)}')
    if z is not None and z.shape != u.shape:
        raise ValueError(f'z must have the shape of u {tuple(u.shape)}, '
                         f'got {tuple(z.shape)}')


def resolve_backend(backend: str, device_type: str) -> str:
    """Resolves ``'auto'`` and checks that a forced backend can run.

    Args:
        backend (str): One of :data:`SCAN_BACKENDS`.
        device_type (str): ``tensor.device.type`` of the inputs.

    Returns:
        str: The concrete backend: ``'mamba_ssm'``, ``'triton'``,
        ``'cpu_kernel'``, ``'torch'`` or ``'reference'``.

    Raises:
        ScanBackendUnavailable: A forced backend cannot run here.
    """
    if backend not in SCAN_BACKENDS:
        raise ValueError(f'unknown scan backend {backend!r}; '
                         f'choose one of {SCAN_BACKENDS}')
    if backend == 'auto':
        if device_type == 'cuda' and mamba_ssm_available():
            return 'mamba_ssm'
        if device_type == 'cuda' and triton_available():
            return 'triton'
        if device_type == 'cpu' and cpu_kernel_available():
            return 'cpu_kernel'
        return 'torch'
    if backend == 'mamba_ssm':
        fn, reason = _load_mamba_ssm()
        if fn is None:
            raise ScanBackendUnavailable(
                "scan backend 'mamba_ssm' was forced but mamba-ssm's kernel "
                f'does not import ({reason}); install the optional extra '
                "(pip install mamba-ssm, needs CUDA) or use backend='torch'")
        if device_type != 'cuda':
            raise ScanBackendUnavailable(
                "scan backend 'mamba_ssm' runs on CUDA tensors only, got "
                f"tensors on '{device_type}'; use backend='torch'")
    if backend == 'triton':
        fn, reason = _load_triton()
        if fn is None:
            raise ScanBackendUnavailable(
                "scan backend 'triton' was forced but triton does not import "
                f"({reason}); pip install triton (needs a GPU to run) or use "
                "backend='torch'")
        if device_type != 'cuda' and not triton_interpreter_enabled():
            raise ScanBackendUnavailable(
                "scan backend 'triton' runs on CUDA tensors only (or on CPU "
                "tensors under TRITON_INTERPRET=1, for tests), got tensors on "
                f"'{device_type}'; use backend='torch'")
    if backend == 'cpu_kernel':
        fn, reason = _load_cpu_kernel()
        if fn is None:
            raise ScanBackendUnavailable(
                "scan backend 'cpu_kernel' was forced but the C++ kernel "
                f"cannot be built or loaded ({reason}); install a C++ "
                "compiler with OpenMP (g++) or use backend='torch'")
        if device_type != 'cpu':
            raise ScanBackendUnavailable(
                "scan backend 'cpu_kernel' runs on CPU tensors only, got "
                f"tensors on '{device_type}'")
    return backend


def _get_impl(name: str) -> Callable:
    if name == 'mamba_ssm':
        return _load_mamba_ssm()[0]
    if name == 'triton':
        return _load_triton()[0]
    if name == 'reference':
        return selective_scan_reference
    if name == 'cpu_kernel':
        from .selective_scan_cpu_kernel import selective_scan_cpu_kernel
        return selective_scan_cpu_kernel
    from .selective_scan_chunked import selective_scan_chunked
    return selective_scan_chunked


def selective_scan(u: Tensor,
                   delta: Tensor,
                   A: Tensor,
                   B: Tensor,
                   C: Tensor,
                   D: Tensor | None = None,
                   z: Tensor | None = None,
                   delta_bias: Tensor | None = None,
                   delta_softplus: bool = False,
                   backend: str = 'auto') -> Tensor:
    """Selective scan (S6) with mamba-ssm's semantics.

    ``h_t = exp(delta_t A) h_{t-1} + delta_t B_t u_t``,
    ``y_t = C_t . h_t + D u_t``, optionally ``y * silu(z)``, where
    ``delta = softplus(delta + delta_bias)`` (bias and softplus optional).

    Args:
        u (Tensor): ``(batch, D, L)``.
        delta (Tensor): ``(batch, D, L)``.
        A (Tensor): Real, ``(D, N)`` (negative for a stable scan).
        B (Tensor): ``(batch, N, L)`` or grouped ``(batch, G, N, L)``;
            channel ``d`` uses group ``d // (D // G)``.
        C (Tensor): Same layout as ``B``.
        D (Tensor, optional): ``(D,)``.
        z (Tensor, optional): ``(batch, D, L)``.
        delta_bias (Tensor, optional): ``(D,)``.
        delta_softplus (bool): Apply softplus to the biased ``delta``.
        backend (str): One of :data:`SCAN_BACKENDS`; see the module docstring.

    Returns:
        Tensor: ``(batch, D, L)`` in the dtype of ``u``.
    """
    _check_inputs(u, delta, A, B, C, D, z, delta_bias)
    name = resolve_backend(backend, u.device.type)
    if name == 'triton' and backend == 'auto' and u.dtype == torch.float64:
        name = 'torch'  # the kernels compute in float32; keep float64 exact
    impl = _get_impl(name)
    if name == 'mamba_ssm':
        u, delta, B, C = (t.contiguous() for t in (u, delta, B, C))
        z = z.contiguous() if z is not None else None
        D = D.float() if D is not None else None
        delta_bias = delta_bias.float() if delta_bias is not None else None
        return impl(u, delta, A.float().contiguous(), B, C, D, z, delta_bias,
                    delta_softplus)
    return impl(u, delta, A, B, C, D, z, delta_bias, delta_softplus)
