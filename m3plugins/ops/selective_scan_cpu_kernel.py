"""Selective scan on CPUs with a C++ kernel JIT-built at first use.

Same semantics as
:func:`m3plugins.ops.selective_scan_reference.selective_scan_reference`
(mamba-ssm's ``selective_scan_fn`` for a real ``A``; Gu & Dao, arXiv
2312.00752): ``u: r(B D L)``, ``delta: r(B D L)``, ``A: r(D N)``,
``B, C: r(B N L)`` or grouped ``r(B G N L)``, ``D, delta_bias: r(D)``,
``z: r(B D L)``.

The kernel (:mod:`m3plugins.ops.selective_scan_cpu_source`) works on tiles
of one 64-byte vector of channels (16 in float32) of one batch row and
group; tiles run in parallel on torch's intra-op threads
(``torch.get_num_threads()``). A tile's ``N`` state vectors stay in
registers and L1, each transition ``exp(delta * A)`` is computed once per
pass with a vectorised polynomial, and only the state entering every chunk
of steps is kept for backward, which recomputes a chunk from it and runs
the reverse recurrence (``(L / chunk, B, N, D)`` saved, never the
``(B, D, L, N)`` history). It computes in float32 (float64 for float64
inputs, where it matches the float64 reference to rounding); bf16 / fp16
inputs are upcast and outputs and gradients cast back, autocast disabled
inside, as on the ``'torch'`` path.

Building: ``torch.utils.cpp_extension.load_inline`` compiles the source
once per machine (about 10 s with g++; ``-O3 -march=native -fopenmp``)
into torch's extension directory (``TORCH_EXTENSIONS_DIR``, by default
``~/.cache/torch_extensions``); later processes load the cached library.
The module name carries a digest of the source, the flags and the CPU, so
a changed kernel or another CPU model never reuses a stale build. Nothing
is built on import: :func:`load_cpu_kernel` builds on the first scan that
may use the kernel, and when that fails (no compiler, no OpenMP, a build
error) it returns the reason instead, so ``backend='auto'`` falls back to
the ``'torch'`` path. ``M3PLUGINS_SCAN_CPU_KERNEL=0`` in the environment
turns the kernel off (no build is tried).
"""
import contextlib
import functools
import hashlib
import logging
import math
import os
import platform

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

from m3plugins.utils.grad_mode import needs_grad

from .selective_scan_cpu_source import SOURCE

#: Compiler flags of the build. ``-march=native`` lets the compiler use the
#: widest vectors of this CPU (the cache key includes the CPU, see
#: :func:`extension_name`); ``-ffp-contract=fast`` fuses multiply-adds;
#: errno and trapping semantics are dropped so that math vectorises.
CFLAGS = ('-O3', '-march=native', '-fopenmp', '-ffp-contract=fast',
          '-fno-math-errno', '-fno-trapping-math')
LDFLAGS = ('-fopenmp', )
#: Environment variable that turns the kernel off when set to ``0``.
DISABLE_ENV = 'M3PLUGINS_SCAN_CPU_KERNEL'
#: Target number of state vectors of one chunk (``chunk * N``): a chunk's
#: recomputed states, transitions and B/C gradient sums (four such
#: buffers, 32 KiB each in float32) stay in the L2 cache.
CHUNK_STATE_VECTORS = 512


def _cpu_identity() -> str:
    """The CPU model and its feature flags (what ``-march=native`` sees)."""
    parts = [platform.machine(), platform.processor()]
    try:
        with open('/proc/cpuinfo') as f:
            for row in f:
                if row.startswith(('model name', 'flags', 'Features')):
                    parts.append(row.strip())
                if row.strip() == '':  # the first CPU is enough
                    break
    except OSError:
        pass
    return '\n'.join(parts)


def extension_name() -> str:
    """Name of the built module: a digest of source, flags and CPU.

    Returns:
        str: ``'m3plugins_scan_cpu_<digest>'``.
    """
    key = '\n'.join((SOURCE, ' '.join(CFLAGS), ' '.join(LDFLAGS),
                     _cpu_identity(), torch.__version__))
    return 'm3plugins_scan_cpu_' + hashlib.sha1(key.encode()).hexdigest()[:16]


@contextlib.contextmanager
def _quiet_cpp_extension_import():
    # Importing torch.utils.cpp_extension on a machine without CUDA logs a
    # warning about CUDA_HOME that has nothing to do with a CPU build.
    logger = logging.getLogger('torch.utils.cpp_extension')
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def _build():
    with _quiet_cpp_extension_import():
        from torch.utils.cpp_extension import load_inline
    return load_inline(
        extension_name(), cpp_sources=[SOURCE], no_implicit_headers=True,
        extra_cflags=list(CFLAGS), extra_ldflags=list(LDFLAGS),
        verbose=False)


@functools.cache
def load_cpu_kernel() -> tuple:
    """Builds (first time on a machine) or loads the kernel, once per process.

    Returns:
        tuple: ``(module, '')``, or ``(None, why it is unavailable)``.
    """
    if os.environ.get(DISABLE_ENV, '') == '0':
        return None, f'turned off by {DISABLE_ENV}=0'
    try:
        module = _build()
    except Exception as err:  # no compiler, no OpenMP, a build error
        return None, f'{type(err).__name__}: {str(err)[-2000:]}'
    return module, ''


def _kernel():
    module, reason = load_cpu_kernel()
    if module is None:
        raise RuntimeError(f'the CPU selective-scan kernel is unavailable: '
                           f'{reason}')
    return module


_ABSENT = [0, 0, 0, 0, 0]


def _view(t: Tensor | None) -> list:
    """Data pointer and strides (padded to 4) of ``t``; zeros for None."""
    if t is None:
        return _ABSENT
    return [t.data_ptr()] + list(t.stride()) + [0] * (4 - t.dim())


def default_chunk(length: int, state: int) -> int:
    """Steps per chunk: about :data:`CHUNK_STATE_VECTORS` state vectors.

    Args:
        length: Sequence length L.
        state: State size N.

    Returns:
        int: The chunk length, in ``[1, max(L, 1)]``.
    """
    return max(1, min(length, CHUNK_STATE_VECTORS // max(state, 1)))


def _like_u(u: Tensor, dtype: torch.dtype) -> Tensor:
    """A new ``(B, D, L)`` tensor laid out like ``u``.

    Channels-last (``(B, L, D)`` storage, what a Mamba block's projections
    give) when ``u`` is, so the kernel writes whole vectors; else
    contiguous.
    """
    batch, channels, length = u.shape
    if u.stride(1) == 1 and length > 1 and channels > 1:
        return u.new_empty((batch, length, channels),
                           dtype=dtype).transpose(1, 2)
    return u.new_empty(u.shape, dtype=dtype)


class _Problem:
    """The inputs of one call in the compute dtype, and their sizes."""

    def __init__(self, u, delta, A, B, C, D, z, delta_bias, delta_softplus):
        self.compute = (torch.float64 if u.dtype == torch.float64
                        else torch.float32)

        def cast(t):
            return t.to(self.compute) if t is not None else None

        self.u, self.delta, self.A = cast(u), cast(delta), cast(A)
        self.B = cast(B if B.dim() == 4 else B.unsqueeze(1))
        self.C = cast(C if C.dim() == 4 else C.unsqueeze(1))
        self.D, self.z, self.bias = cast(D), cast(z), cast(delta_bias)
        self.batch, self.channels, self.length = u.shape
        self.state = A.shape[1]
        self.groups = self.B.shape[1]
        self.chunk = default_chunk(self.length, self.state)
        self.softplus = delta_softplus

    def dims(self, splits: int = 1, slots: int = 1) -> list:
        return [self.batch, self.channels, self.length, self.state,
                self.groups, self.chunk, splits, slots, int(self.softplus),
                int(self.D is not None), int(self.z is not None),
                int(self.bias is not None)]

    def input_views(self) -> list:
        return [_view(t) for t in (self.u, self.delta, self.A, self.B,
                                   self.C, self.D, self.z, self.bias)]

    @property
    def is_double(self) -> bool:
        return self.compute == torch.float64


def _forward(problem: _Problem, save_states: bool) -> tuple:
    """Runs the forward kernel; returns ``(out, chunk states or None)``."""
    out = _like_u(problem.u, problem.compute)
    states = None
    if save_states:
        chunks = math.ceil(problem.length / problem.chunk)
        states = problem.u.new_empty(
            (max(chunks - 1, 0), problem.batch, problem.state,
             problem.channels), dtype=problem.compute)
    views = (problem.input_views() + [_view(out), _view(states)]
             + [_ABSENT] * 9)
    _kernel().forward(problem.dims(), views, problem.is_double)
    return out, states


def _backward(problem: _Problem, states: Tensor, dout: Tensor) -> tuple:
    """Runs the backward kernel.

    Returns:
        tuple: ``(du, ddelta, dA, dB, dC, dD, dz, d_bias)`` in the compute
        dtype; ``dB``/``dC`` grouped ``(B, G, N, L)``, absent options None.
    """
    p = problem
    kernel = _kernel()
    lanes = kernel.lanes(p.is_double)
    tiles = math.ceil(p.channels // p.groups / lanes)
    slots = torch.get_num_threads()
    # Split a group's tiles over tasks when batch x groups alone would
    # leave threads idle; each split sums its own B/C gradient slice.
    splits = min(tiles, max(1, math.ceil(2 * slots / (p.batch * p.groups))))
    dout = dout.to(p.compute)
    du, ddelta = _like_u(p.u, p.compute), _like_u(p.u, p.compute)
    dz = _like_u(p.u, p.compute) if p.z is not None else None
    bc_shape = (p.batch, p.groups * splits, p.state, p.length)
    dB = p.u.new_empty(bc_shape, dtype=p.compute)
    dC = p.u.new_empty(bc_shape, dtype=p.compute)
    dA = p.u.new_zeros((slots, p.channels, p.state), dtype=p.compute)
    dD = (p.u.new_zeros((slots, p.channels), dtype=p.compute)
          if p.D is not None else None)
    d_bias = (p.u.new_zeros((slots, p.channels), dtype=p.compute)
              if p.bias is not None else None)
    views = p.input_views() + [_view(t) for t in (
        None, states, dout, du, ddelta, dA, dB, dC, dD, dz, d_bias)]
    kernel.backward(p.dims(splits, slots), views, p.is_double)
    grouped = (p.batch, p.groups, splits, p.state, p.length)
    dB, dC = dB.view(grouped).sum(2), dC.view(grouped).sum(2)
    return (du, ddelta, dA.sum(0), dB, dC,
            dD.sum(0) if dD is not None else None, dz,
            d_bias.sum(0) if d_bias is not None else None)


class _CpuKernelScan(torch.autograd.Function):
    """Autograd function around the kernel's forward and backward."""

    @staticmethod
    def forward(ctx, u, delta, A, B, C, D, z, delta_bias, delta_softplus):
        ctx.dtypes = tuple(t.dtype if t is not None else None
                           for t in (u, delta, A, B, C, D, z, delta_bias))
        ctx.bc_dims = (B.dim(), C.dim())
        ctx.delta_softplus = delta_softplus
        with torch.autocast('cpu', enabled=False):
            out, states = _forward(
                _Problem(u, delta, A, B, C, D, z, delta_bias,
                         delta_softplus), save_states=True)
        ctx.save_for_backward(u, delta, A, B, C, D, z, delta_bias, states)
        return out.to(u.dtype)

    @staticmethod
    @once_differentiable
    def backward(ctx, dout):
        u, delta, A, B, C, D, z, delta_bias, states = ctx.saved_tensors
        with torch.autocast('cpu', enabled=False):
            grads = list(_backward(
                _Problem(u, delta, A, B, C, D, z, delta_bias,
                         ctx.delta_softplus), states, dout))
        for i, dims in ((3, ctx.bc_dims[0]), (4, ctx.bc_dims[1])):
            if dims == 3:
                grads[i] = grads[i].squeeze(1)
        out = tuple(g.to(dtype) if g is not None else None
                    for g, dtype in zip(grads, ctx.dtypes))
        return out + (None, )


def selective_scan_cpu_kernel(u: Tensor,
                              delta: Tensor,
                              A: Tensor,
                              B: Tensor,
                              C: Tensor,
                              D: Tensor | None = None,
                              z: Tensor | None = None,
                              delta_bias: Tensor | None = None,
                              delta_softplus: bool = False) -> Tensor:
    """Selective scan with the C++ CPU kernel.

    Same semantics as :func:`m3plugins.ops.selective_scan`; CPU tensors
    only. Without a gradient to compute (grad mode off, or no input
    requiring grad) only the forward kernel runs and no state is kept.

    Args:
        u (Tensor): ``r(B D L)``.
        delta (Tensor): ``r(B D L)``.
        A (Tensor): Real, ``r(D N)``.
        B (Tensor): ``r(B N L)`` or grouped ``r(B G N L)``.
        C (Tensor): Same layout as ``B``.
        D (Tensor, optional): ``r(D)``.
        z (Tensor, optional): ``r(B D L)``.
        delta_bias (Tensor, optional): ``r(D)``.
        delta_softplus (bool): Apply softplus to the biased ``delta``.

    Returns:
        Tensor: ``r(B D L)`` in the dtype of ``u``.

    Raises:
        RuntimeError: The kernel cannot be built or loaded here (see
            :func:`load_cpu_kernel`).
    """
    tensors = (u, delta, A, B, C, D, z, delta_bias)
    devices = {t.device.type for t in tensors if t is not None}
    if devices != {'cpu'}:
        raise ValueError(f'the CPU kernel takes CPU tensors only, got '
                         f'tensors on {sorted(devices)}')
    if not needs_grad(*tensors):
        with torch.autocast('cpu', enabled=False):
            out, _ = _forward(_Problem(u, delta, A, B, C, D, z, delta_bias,
                                       delta_softplus), save_states=False)
        return out.to(u.dtype)
    return _CpuKernelScan.apply(u, delta, A, B, C, D, z, delta_bias,
                                delta_softplus)
