"""Readable sequential reference of the selective scan (S6).

This is the specification that the fast implementations are tested against.
It follows the semantics of mamba-ssm's ``selective_scan_ref`` (Gu & Dao,
"Mamba: Linear-Time Sequence Modeling with Selective State Spaces",
arXiv 2312.00752), restricted to a real-valued ``A`` and input-dependent
``B``/``C``:

.. code-block:: text

    delta  = softplus(delta + delta_bias)          (bias, softplus optional)
    h_t    = exp(delta_t * A) * h_{t-1} + delta_t * B_t * u_t
    y_t    = <C_t, h_t> + D * u_t
    out    = y * silu(z)                          (z optional)

Everything is written as a plain loop over the sequence with autograd, so it
is slow and keeps the ``(batch, channels, length, state)`` history; use it for
tests and for reading, :func:`m3plugins.ops.selective_scan` for work.
"""

import torch
import torch.nn.functional as F
from torch import Tensor


def expand_groups(BC: Tensor, channels: int) -> Tensor:
    """Expands grouped ``B``/``C`` to one copy per channel.

    Args:
        BC (Tensor): ``(batch, N, L)`` (one group shared by every channel) or
            ``(batch, G, N, L)``; ``channels`` must be divisible by ``G``.
        channels (int): Number of channels ``D``.

    Returns:
        Tensor: ``(batch, D, N, L)`` where channel ``d`` holds group
        ``d // (D // G)``, the convention of mamba-ssm.
    """
    if BC.dim() == 3:
        BC = BC.unsqueeze(1)
    groups = BC.shape[1]
    return BC.repeat_interleave(channels // groups, dim=1)


def selective_scan_reference(u: Tensor,
                             delta: Tensor,
                             A: Tensor,
                             B: Tensor,
                             C: Tensor,
                             D: Tensor | None = None,
                             z: Tensor | None = None,
                             delta_bias: Tensor | None = None,
                             delta_softplus: bool = False) -> Tensor:
    """Sequential selective scan, one time step at a time.

    Computes in float64 when ``u`` is float64 and in float32 otherwise (half
    precision inputs are upcast, like mamba-ssm's reference).

    Args:
        u (Tensor): Input, ``(batch, D, L)``.
        delta (Tensor): Step sizes before bias/softplus, ``(batch, D, L)``.
        A (Tensor): Real state matrix (diagonal per channel), ``(D, N)``.
        B (Tensor): Input projection, ``(batch, N, L)`` or grouped
            ``(batch, G, N, L)``.
        C (Tensor): Output projection, same layout as ``B``.
        D (Tensor, optional): Skip weight, ``(D,)``.
        z (Tensor, optional): Gate, ``(batch, D, L)``; the output is
            multiplied by ``silu(z)``.
        delta_bias (Tensor, optional): Added to ``delta``, ``(D,)``.
        delta_softplus (bool): Apply softplus to ``delta + delta_bias``.

    Returns:
        Tensor: ``(batch, D, L)`` in the dtype of ``u``.
    """
    dtype_in = u.dtype
    compute = torch.float64 if dtype_in == torch.float64 else torch.float32
    u, delta, A = u.to(compute), delta.to(compute), A.to(compute)
    channels = u.shape[1]
    B = expand_groups(B.to(compute), channels)  # (batch, D, N, L)
    C = expand_groups(C.to(compute), channels)
    if delta_bias is not None:
        delta = delta + delta_bias.to(compute)[:, None]
    if delta_softplus:
        delta = F.softplus(delta)

    # Discretised transition and input, (batch, D, L, N).
    decay = torch.exp(delta[..., None] * A[:, None, :])
    drive = (delta * u)[..., None] * B.transpose(-1, -2)
    # unbind (not indexing in the loop) keeps autograd's backward linear in L.
    decay_steps = decay.unbind(2)
    drive_steps = drive.unbind(2)
    C_steps = C.unbind(3)

    state = u.new_zeros(u.shape[0], channels, A.shape[1])
    ys = []
    for decay_t, drive_t, C_t in zip(decay_steps, drive_steps, C_steps):
        state = decay_t * state + drive_t
        ys.append((state * C_t).sum(-1))
    y = torch.stack(ys, dim=-1)

    if D is not None:
        y = y + u * D.to(compute)[:, None]
    if z is not None:
        y = y * F.silu(z.to(compute))
    return y.to(dtype_in)
