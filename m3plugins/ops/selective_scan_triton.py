"""Selective scan on GPUs with Triton kernels (backend ``'triton'``).

Same semantics as
:func:`m3plugins.ops.selective_scan_reference.selective_scan_reference`, i.e.
mamba-ssm's ``selective_scan_interface`` (Gu & Dao, "Mamba: Linear-Time
Sequence Modeling with Selective State Spaces", arXiv 2312.00752), for a real
``A``. The kernels live in
:mod:`m3plugins.ops.selective_scan_triton_kernels`; this module holds the
``torch.autograd.Function`` that launches them and the choice of block sizes.

* Inputs may be float32, bfloat16 or float16 (each tensor its own dtype);
  the state and every sum are float32. The output has ``u``'s dtype; each
  gradient has its input's dtype.
* Only the state entering each tile of ``block_t`` steps after the first is
  kept for backward, ``(batch, D, ceil(L / block_t) - 1, N)`` float32 (none
  for a sequence of one tile), besides the inputs; the backward kernel
  recomputes the states inside a tile. When no gradient is needed (grad mode
  off, or no input requires grad) the forward kernel runs alone and keeps
  nothing.
* ``u``, ``delta``, ``z``, ``B`` and ``C`` may be strided views; loads follow
  their strides (contiguous time is what makes the loads coalesced).
* Runs on CUDA tensors, or on CPU tensors under Triton's interpreter
  (``TRITON_INTERPRET=1`` set before ``triton`` is imported; for tests).
* Double backward is not supported (``once_differentiable``).

``triton`` is imported when this module is imported: import it lazily (the
dispatcher in :mod:`m3plugins.ops.selective_scan` does).
"""

import torch
import triton
from torch import Tensor
from torch.autograd.function import once_differentiable

from m3plugins.utils.grad_mode import needs_grad

from .selective_scan_triton_kernels import (
    selective_scan_backward_kernel,
    selective_scan_forward_kernel,
)

#: Longest tile of time steps of the default block sizes.
MAX_BLOCK_T = 64
#: Target elements of one ``(BLOCK_D, BLOCK_T, BLOCK_N)`` register tile.
TILE_ELEMENTS = 4096
#: Most partial buffers for the batch-reduced gradients (dA, dD, bias); more
#: slots mean fewer programs adding into the same address.
MAX_REDUCTION_SLOTS = 256
#: Most elements of all the ``(slots, D, N)`` partial buffers of ``dA``.
MAX_REDUCTION_ELEMENTS = 1 << 22
#: Default warps per program of the forward and of the backward kernel; the
#: backward holds about twice as many tiles live, so it gets twice the threads.
FORWARD_WARPS = 4
BACKWARD_WARPS = 8
#: Input dtypes the kernels accept (they compute in float32).
SUPPORTED_DTYPES = (torch.float32, torch.bfloat16, torch.float16)


def default_block_sizes(channels_per_group: int, length: int,
                        state: int) -> tuple:
    """``(block_d, block_t)`` of the default launch.

    ``block_t`` is the sequence length rounded up to a power of two, at most
    :data:`MAX_BLOCK_T`; ``block_d`` fills a register tile of about
    :data:`TILE_ELEMENTS` elements with the channels of one group. Short
    sequences (SpectralMamba pieces) therefore get one tile and many channels
    per program, long ones (SS2D) several tiles of a few channels.

    Args:
        channels_per_group: Channels D / G that share one ``B``/``C`` group.
        length: Sequence length L.
        state: State size N.

    Returns:
        tuple: ``(block_d, block_t)``, both powers of two.
    """
    block_n = triton.next_power_of_2(state)
    block_t = min(MAX_BLOCK_T, triton.next_power_of_2(length))
    block_d = max(1, TILE_ELEMENTS // (block_t * block_n))
    block_d = min(block_d, triton.next_power_of_2(channels_per_group))
    return block_d, block_t


def _grouped(BC: Tensor) -> Tensor:
    """``(batch, N, L)`` -> ``(batch, 1, N, L)`` view; grouped stays as is."""
    return BC.unsqueeze(1) if BC.dim() == 3 else BC


def _launch_forward(u, delta, A, B, C, D, z, delta_bias, delta_softplus,
                    block_d, block_t, num_warps, store_states):
    """Run the forward kernel.

    Returns ``(out, tile_states, (block_d, block_t))``.

    ``tile_states`` is ``(batch, D, tiles - 1, N)`` float32 when
    ``store_states``, else None.
    """
    batch, channels, length = u.shape
    state = A.shape[1]
    B_g, C_g = _grouped(B), _grouped(C)
    groups = B_g.shape[1]
    per_group = channels // groups
    default_d, default_t = default_block_sizes(per_group, length, state)
    block_d = block_d or default_d
    block_t = block_t or default_t
    blocks_per_group = triton.cdiv(per_group, block_d)
    num_tiles = triton.cdiv(length, block_t)

    out = torch.empty(u.shape, dtype=u.dtype, device=u.device)
    tile_states = torch.empty(
        (batch, channels, max(num_tiles - 1, 0), state),
        dtype=torch.float32, device=u.device) if store_states else None
    # A kernel argument must point to memory: a stand-in when nothing is kept.
    states_arg = tile_states if store_states and tile_states.numel() else \
        out.new_empty((1, 1, 1, 1), dtype=torch.float32)
    z_arg = z if z is not None else u
    if batch * channels * length:
        selective_scan_forward_kernel[(batch, groups * blocks_per_group)](
            u, delta, A, B_g, C_g, D if D is not None else A,
            z_arg, delta_bias if delta_bias is not None else A,
            out, states_arg,
            length, state, per_group, blocks_per_group,
            *u.stride(), *delta.stride(), *A.stride(), *B_g.stride(),
            *C_g.stride(), *z_arg.stride(), *out.stride(),
            *states_arg.stride()[:3],
            HAS_D=D is not None, HAS_Z=z is not None,
            HAS_BIAS=delta_bias is not None, SOFTPLUS=bool(delta_softplus),
            STORE_STATES=store_states, BLOCK_D=block_d, BLOCK_T=block_t,
            BLOCK_N=triton.next_power_of_2(state),
            num_warps=num_warps or FORWARD_WARPS)
    return out, tile_states, (block_d, block_t)


class _TritonSelectiveScan(torch.autograd.Function):
    """Autograd function launching the forward and backward kernels."""

    @staticmethod
    def forward(ctx, u, delta, A, B, C, D, z, delta_bias, delta_softplus,
                block_d, block_t, num_warps):
        """Run the forward kernel, keeping the tile states for backward.

        Args:
            ctx: The autograd context.
            u: ``(batch, D, L)``.
            delta: ``(batch, D, L)``.
            A: ``(D, N)``.
            B: ``(batch, N, L)`` or ``(batch, G, N, L)``.
            C: Same layout as ``B``.
            D: ``(D,)`` or None.
            z: ``(batch, D, L)`` or None.
            delta_bias: ``(D,)`` or None.
            delta_softplus: Apply softplus to the biased ``delta``.
            block_d: Channels per program, or None for the default.
            block_t: Time steps per tile, or None for the default.
            num_warps: Warps per program, or None for the default.

        Returns:
            Tensor: ``(batch, D, L)`` in the dtype of ``u``.
        """
        out, tile_states, (block_d, block_t) = _launch_forward(
            u, delta, A, B, C, D, z, delta_bias, delta_softplus, block_d,
            block_t, num_warps, store_states=True)
        ctx.save_for_backward(u, delta, A, B, C, D, z, delta_bias, tile_states)
        ctx.delta_softplus = bool(delta_softplus)
        ctx.blocks = (block_d, block_t, num_warps)
        return out

    @staticmethod
    @once_differentiable
    def backward(ctx, dout):
        """Run the backward kernel from the kept tile states.

        Args:
            ctx: The autograd context of :meth:`forward`.
            dout: ``(batch, D, L)`` gradient of the output.

        Returns:
            tuple: Gradients of ``u, delta, A, B, C, D, z, delta_bias`` (in
            their dtypes and shapes; None for absent ones), then None for
            the four non-tensor arguments.
        """
        u, delta, A, B, C, D, z, delta_bias, tile_states = ctx.saved_tensors
        block_d, block_t, num_warps = ctx.blocks
        batch, channels, length = u.shape
        state = A.shape[1]
        B_g, C_g = _grouped(B), _grouped(C)
        groups = B_g.shape[1]
        per_group = channels // groups
        blocks_per_group = triton.cdiv(per_group, block_d)
        atomic_bc = blocks_per_group > 1
        num_slots = max(1, min(
            batch, MAX_REDUCTION_SLOTS,
            MAX_REDUCTION_ELEMENTS // max(1, channels * state)))
        device = u.device
        if tile_states.numel() == 0:
            # One tile: nothing kept; the kernel needs a pointer.
            tile_states = torch.empty((1, 1, 1, 1), dtype=torch.float32,
                                      device=device)

        du = torch.empty(u.shape, dtype=u.dtype, device=device)
        ddelta = torch.empty(delta.shape, dtype=delta.dtype, device=device)
        dz = (torch.empty(z.shape, dtype=z.dtype, device=device)
              if z is not None else None)
        make_bc = torch.zeros if atomic_bc else torch.empty
        dB = make_bc(B_g.shape, dtype=torch.float32, device=device)
        dC = make_bc(C_g.shape, dtype=torch.float32, device=device)
        dA_slots = torch.zeros((num_slots, channels, state),
                               dtype=torch.float32, device=device)
        dD_slots = torch.zeros((num_slots, channels), dtype=torch.float32,
                               device=device) if D is not None else None
        dbias_slots = torch.zeros(
            (num_slots, channels), dtype=torch.float32,
            device=device) if delta_bias is not None else None
        z_arg = z if z is not None else u
        grid = (batch, groups * blocks_per_group)
        if batch * channels * length:
            selective_scan_backward_kernel[grid](
                u, delta, A, B_g, C_g, D if D is not None else A,
                z_arg, delta_bias if delta_bias is not None else A,
                dout, tile_states,
                du, ddelta, dz if dz is not None else du, dB, dC, dA_slots,
                dD_slots if dD_slots is not None else dA_slots,
                dbias_slots if dbias_slots is not None else dA_slots,
                length, state, channels, per_group, blocks_per_group,
                num_slots,
                *u.stride(), *delta.stride(), *A.stride(), *B_g.stride(),
                *C_g.stride(), *z_arg.stride(), *dout.stride(),
                *tile_states.stride()[:3],
                HAS_D=D is not None, HAS_Z=z is not None,
                HAS_BIAS=delta_bias is not None,
                SOFTPLUS=ctx.delta_softplus, ATOMIC_BC=atomic_bc,
                BLOCK_D=block_d, BLOCK_T=block_t,
                BLOCK_N=triton.next_power_of_2(state),
                num_warps=num_warps or BACKWARD_WARPS)
        else:
            dB.zero_()
            dC.zero_()
        dA = dA_slots.sum(0).to(A.dtype)
        dD = dD_slots.sum(0).to(D.dtype) if D is not None else None
        dbias = (dbias_slots.sum(0).to(delta_bias.dtype)
                 if delta_bias is not None else None)
        dB = (dB if B.dim() == 4 else dB.squeeze(1)).to(B.dtype)
        dC = (dC if C.dim() == 4 else dC.squeeze(1)).to(C.dtype)
        return du, ddelta, dA, dB, dC, dD, dz, dbias, None, None, None, None


def selective_scan_triton(u: Tensor,
                          delta: Tensor,
                          A: Tensor,
                          B: Tensor,
                          C: Tensor,
                          D: Tensor | None = None,
                          z: Tensor | None = None,
                          delta_bias: Tensor | None = None,
                          delta_softplus: bool = False,
                          block_d: int | None = None,
                          block_t: int | None = None,
                          num_warps: int | None = None) -> Tensor:
    """Selective scan with the Triton kernels.

    Args:
        u (Tensor): ``(batch, D, L)``.
        delta (Tensor): ``(batch, D, L)``.
        A (Tensor): Real, ``(D, N)``.
        B (Tensor): ``(batch, N, L)`` or grouped ``(batch, G, N, L)``;
            channel ``d`` uses group ``d // (D // G)``.
        C (Tensor): Same layout as ``B``.
        D (Tensor, optional): ``(D,)``.
        z (Tensor, optional): ``(batch, D, L)``.
        delta_bias (Tensor, optional): ``(D,)``.
        delta_softplus (bool): Apply softplus to the biased ``delta``.
        block_d (int, optional): Channels per program, a power of two; by
            default from :func:`default_block_sizes`.
        block_t (int, optional): Time steps per tile, a power of two; also
            the spacing of the states kept for backward. Default from
            :func:`default_block_sizes`.
        num_warps (int, optional): Warps per program of both kernels; by
            default :data:`FORWARD_WARPS` and :data:`BACKWARD_WARPS`.

    Returns:
        Tensor: ``(batch, D, L)`` in the dtype of ``u``.

    Raises:
        ValueError: A block size is not a power of two, or a tensor is not
            float32, bfloat16 or float16 (the kernels compute in float32, so
            float64 inputs are refused rather than silently rounded).
    """
    for name, value in (('block_d', block_d), ('block_t', block_t)):
        if value is not None and (value < 1 or value & (value - 1)):
            raise ValueError(f'{name} must be a power of two, got {value}')
    names = ('u', 'delta', 'A', 'B', 'C', 'D', 'z', 'delta_bias')
    for name, tensor in zip(names, (u, delta, A, B, C, D, z, delta_bias)):
        if tensor is not None and tensor.dtype not in SUPPORTED_DTYPES:
            raise ValueError(
                f'the triton selective scan takes float32, bfloat16 or '
                f'float16 tensors, got {name} in {tensor.dtype}; use '
                "backend='torch' for other dtypes")
    if not needs_grad(u, delta, A, B, C, D, z, delta_bias):
        return _launch_forward(u, delta, A, B, C, D, z, delta_bias,
                               delta_softplus, block_d, block_t, num_warps,
                               store_states=False)[0]
    return _TritonSelectiveScan.apply(u, delta, A, B, C, D, z, delta_bias,
                                      delta_softplus, block_d, block_t,
                                      num_warps)
