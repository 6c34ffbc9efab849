"""Fast selective scan for CPUs: chunked recurrence with recomputing backward.

Same semantics as
:func:`m3plugins.ops.selective_scan_reference.selective_scan_reference`
(mamba-ssm's ``selective_scan_ref``; Gu & Dao, arXiv 2312.00752), written as a
``torch.autograd.Function`` with a hand-written backward:

* The sequence is processed in chunks of ``T`` steps. Per chunk, the
  discretised transition ``exp(delta * A)`` and drive ``delta * B * u`` are
  built with a few vectorised ops in a ``(T, batch, D, N)`` buffer, the
  recurrence ``h_t = a_t * h_{t-1} + b_t`` runs in place (one fused
  ``addcmul_`` per step, no autograd graph), and ``y = C . h`` for the whole
  chunk is one elementwise product and one sum.
* Only the state at each chunk boundary is kept for backward,
  ``(ceil(L / T) - 1, batch, D, N)``; the ``(batch, D, L, N)`` history never
  exists. Backward recomputes a chunk's states from its boundary state, runs
  the reverse recurrence for ``dL/dh`` (again one ``addcmul_`` per step) and
  gets every other gradient with vectorised ops per chunk.
* Grouped ``B``/``C`` (``(batch, G, N, L)``) are used through views; they are
  never expanded to one copy per channel.
* The state and all arithmetic are float32 (float64 for float64 inputs), with
  autocast disabled inside; outputs and gradients are cast back to the input
  dtypes, so bf16/fp16 inputs under autocast keep an fp32 state.

The chunk length defaults to the largest ``T`` whose ``(T, batch, D, N)``
buffer stays under :data:`CHUNK_ELEMENTS` elements (but at least
:data:`MIN_CHUNK`), so the extra memory is a few such buffers plus the boundary
states, whatever ``L`` is. When even one step of all rows exceeds that
(short sequences with many rows), the rows are processed in blocks
(:func:`default_row_block`). All ``(batch, D, L)`` work is done time-major.
Double backward is not supported (``once_differentiable``).
"""
import math

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.autograd.function import once_differentiable

from m3plugins.utils.grad_mode import needs_grad

#: Target number of elements of one ``(T, batch, D, N)`` chunk buffer (1 MiB
#: in fp32: the working set of a chunk stays in the CPU caches).
CHUNK_ELEMENTS = 1 << 18
#: Fewest steps per chunk, so that the per-chunk op overhead stays amortised.
MIN_CHUNK = 8
#: Fewest rows per block of the autograd path (see :func:`default_row_block`).
MIN_ROW_BLOCK = 32
#: Target number of elements of one ``(rows, L, D)`` or ``(rows, N, D)``
#: block of the no-grad path (512 KiB in fp32, so a block's tensors stay in
#: cache across its steps). At SpectralMamba's shape it makes a 512-pixel
#: chunk one block (``tools/benchmark_scan.py`` times the scan paths).
INFERENCE_BLOCK_ELEMENTS = 1 << 17
#: Longest sequence for which the no-grad path is used. It runs about ten
#: ops per step, so it only beats the chunked forward on short sequences
#: with many rows (SpectralMamba's spectral pieces), never on long scans.
NO_GRAD_MAX_LENGTH = 16


def default_chunk_size(batch: int, channels: int, state: int,
                       length: int) -> int:
    """Chunk length ``T`` for a ``(batch, channels, length)`` scan.

    Buffers of about 1 MiB keep a chunk in cache; with very many channels
    that would leave one or two steps per chunk, where the per-op overhead
    dominates, hence :data:`MIN_CHUNK`, which also keeps the saved boundary
    states at most ``1 / MIN_CHUNK`` of the state history.

    Args:
        batch: Batch size.
        channels: Channels D.
        state: State size N.
        length: Sequence length L.

    Returns:
        int: ``T`` in ``[1, length]``: as many steps as keep a
        ``(T, batch, D, N)`` buffer under :data:`CHUNK_ELEMENTS` elements,
        but at least :data:`MIN_CHUNK`.
    """
    per_step = max(1, batch * channels * state)
    return max(1, min(length, max(MIN_CHUNK, CHUNK_ELEMENTS // per_step)))


def blocks_for_cache(device: torch.device) -> bool:
    """Whether rows are cut into cache-sized blocks on ``device``.

    Only on CPUs: a GPU wants few, large kernels, so there every row is
    processed at once (one block).
    """
    return torch.device(device).type == 'cpu'


def default_row_block(batch: int, channels: int, state: int,
                      chunk: int) -> int:
    """Rows per block of the autograd path for chunk length ``chunk``.

    As many rows as keep a ``(chunk, rows, D, N)`` buffer under
    :data:`CHUNK_ELEMENTS` elements, but at least :data:`MIN_ROW_BLOCK`, so
    that long sequences with few, wide rows (M3amba) stay one block, while
    short sequences with many rows (SpectralMamba: pixels x ~7 pieces) are
    cut into cache-sized blocks instead of streaming ``(L, rows, D, N)``
    buffers of tens of MiB through memory.

    Args:
        batch: Rows (batch entries) in all.
        channels: Channels D.
        state: State size N.
        chunk: Chunk length T.

    Returns:
        int: Rows per block, in ``[1, batch]``.
    """
    per_row = max(1, chunk * channels * state)
    return max(1, min(batch, max(MIN_ROW_BLOCK, CHUNK_ELEMENTS // per_row)))


def _as_groups(BC: Tensor) -> Tensor:
    return BC.unsqueeze(1) if BC.dim() == 3 else BC


def _time_major(x: Tensor) -> Tensor:
    """``(..., L)`` -> a new contiguous ``(L, ...)`` (never a view of ``x``).

    Written as a copy of a 2-D transpose into a fresh buffer, the fast copy
    path; callers modify the result in place.
    """
    length = x.shape[-1]
    out = x.new_empty((length, ) + tuple(x.shape[:-1]))
    out.view(length, -1).copy_(x.reshape(-1, length).t())
    return out


def _time_last(x: Tensor) -> Tensor:
    """Contiguous ``(L, ...)`` -> a new contiguous ``(..., L)``."""
    length = x.shape[0]
    out = x.new_empty(tuple(x.shape[1:]) + (length, ))
    out.view(-1, length).copy_(x.reshape(length, -1).t())
    return out


def softplus(x: Tensor) -> Tensor:
    """``F.softplus`` (threshold 20) from exp/log only, in a new tensor.

    ``log1p`` is not vectorised on some CPU builds (about 50x slower than
    ``log`` here), so ``log1p(t)`` is evaluated as ``log(1 + t) * t / ((1 + t)
    - 1)`` (Goldberg's trick, accurate to a few ulp) on
    ``softplus(x) = max(x, 0) + log1p(exp(-|x|))``. Two temporaries of the
    size of ``x`` at most.
    """
    t = x.abs().neg_().exp_()
    out = t + 1
    scratch = out - 1
    tiny = scratch == 0                       # 1 + t rounds to 1: log1p(t) = t
    out.log_().mul_(t).div_(scratch)
    torch.where(tiny, t, out, out=out)
    del t, tiny
    out.add_(torch.clamp(x, min=0, out=scratch))
    return torch.where(x > 20, x, out, out=out)


def _inputs_time_major(u, delta, delta_bias, delta_softplus, compute):
    """Time-major ``u``, pre-activation ``delta + bias`` and step ``dt``."""
    u_t = _time_major(u.to(compute))
    pre_t = _time_major(delta.to(compute))
    if delta_bias is not None:
        pre_t.add_(delta_bias.to(compute))
    dt_t = softplus(pre_t) if delta_softplus else pre_t
    return u_t, pre_t, dt_t


class _ChunkedSelectiveScan(torch.autograd.Function):
    """Autograd function behind :func:`selective_scan_chunked`.

    Rows (the batch) are processed in blocks of ``row_block`` (see
    :func:`default_row_block`), each block on its own: its ``(batch, D, L)``
    slices are transposed time-major, ``(L, rows, D)``, on entry and back on
    exit, and its chunks run in a ``(T, rows, D, N)`` workspace that stays in
    cache. Rows are independent, so blocking is exact; only ``dA``, ``dD``
    and the bias gradient sum over blocks.
    """

    @staticmethod
    def forward(ctx, u, delta, A, B, C, D, z, delta_bias, delta_softplus,
                chunk_size, row_block):
        ctx.dtypes = tuple(t.dtype if t is not None else None
                           for t in (u, delta, A, B, C, D, z, delta_bias))
        ctx.bc_dims = (B.dim(), C.dim())
        compute = torch.float64 if u.dtype == torch.float64 else torch.float32
        with torch.autocast(u.device.type, enabled=False):
            batch, channels, length = u.shape
            state = A.shape[1]
            T = chunk_size or default_chunk_size(batch, channels, state,
                                                 length)
            rows = row_block or (
                default_row_block(batch, channels, state, T)
                if blocks_for_cache(u.device) else batch)
            num_chunks = math.ceil(length / T)
            boundary = u.new_empty(
                (max(num_chunks - 1, 0), batch, channels, state),
                dtype=compute)
            out = torch.empty_like(u)
            y_pre = u.new_empty(u.shape, dtype=compute) \
                if z is not None else None
            A_c = A.to(compute)
            D_c = D.to(compute) if D is not None else None
            groups = _as_groups(B).shape[1]
            for r, work in _row_blocks(batch, rows, T, channels, groups,
                                       state, compute, u.device):
                y_t = _forward_rows(
                    work, u[r], delta[r], A_c, B[r], C[r], D_c, delta_bias,
                    delta_softplus, compute, boundary[:, r])
                if z is not None:
                    y_pre[r] = _time_last(y_t)
                    y_t.mul_(F.silu(_time_major(z[r].to(compute))))
                out[r] = _time_last(y_t)
        ctx.save_for_backward(u, delta, A, B, C, D, z, delta_bias, boundary,
                              y_pre)
        ctx.delta_softplus = delta_softplus
        ctx.chunk = T
        ctx.rows = rows
        return out

    @staticmethod
    @once_differentiable
    def backward(ctx, dout):
        (u, delta, A, B, C, D, z, delta_bias, boundary,
         y_pre) = ctx.saved_tensors
        compute = torch.float64 if u.dtype == torch.float64 else torch.float32
        T, rows = ctx.chunk, ctx.rows
        with torch.autocast(u.device.type, enabled=False):
            batch, channels, length = u.shape
            state = A.shape[1]
            B_g, C_g = _as_groups(B), _as_groups(C)
            groups = B_g.shape[1]
            A_c = A.to(compute)
            D_c = D.to(compute) if D is not None else None
            grads = dict(
                du=u.new_empty(u.shape, dtype=compute),
                ddelta=u.new_empty(u.shape, dtype=compute),
                dB=u.new_empty(B_g.shape, dtype=compute),
                dC=u.new_empty(C_g.shape, dtype=compute),
                dz=u.new_empty(u.shape, dtype=compute)
                if z is not None else None,
                dA=torch.zeros_like(A_c),
                dD=torch.zeros_like(D_c) if D is not None else None,
                d_bias=delta_bias.new_zeros(delta_bias.shape, dtype=compute)
                if delta_bias is not None else None)
            for r, work in _row_blocks(batch, rows, T, channels, groups,
                                       state, compute, u.device):
                _backward_rows(
                    work, r, dout, u, delta, A_c, B_g, C_g, D_c, z,
                    delta_bias, ctx.delta_softplus, boundary, y_pre, compute,
                    grads)
            dB, dC = grads['dB'], grads['dC']
            if ctx.bc_dims[0] == 3:
                dB = dB.squeeze(1)
            if ctx.bc_dims[1] == 3:
                dC = dC.squeeze(1)

        result = (grads['du'], grads['ddelta'], grads['dA'], dB, dC,
                  grads['dD'], grads['dz'], grads['d_bias'])
        out = tuple(g.to(dtype) if g is not None else None
                    for g, dtype in zip(result, ctx.dtypes))
        return out + (None, None, None)


def _row_blocks(batch, rows, chunk, channels, groups, state, dtype, device):
    """Yield ``(row slice, workspace)`` for blocks of ``rows`` rows.

    The workspace is reused and only rebuilt for a smaller last block.
    """
    work = None
    for r0 in range(0, batch, rows):
        r = slice(r0, min(batch, r0 + rows))
        if work is None or work.rows != r.stop - r.start:
            work = _Workspace(chunk, r.stop - r.start, channels, groups,
                              state, dtype, device)
        yield r, work


def _forward_rows(work, u, delta, A, B, C, D, delta_bias, delta_softplus,
                  compute, boundary):
    """``C . h + D * u`` of one block of rows, time-major ``(L, rows, D)``.

    Runs the chunks of the block in ``work`` and writes the state at each
    chunk boundary into ``boundary`` (``(chunks - 1, rows, D, N)`` view).
    ``D`` (compute dtype) may be None; the gate is applied by the caller.
    """
    length = u.shape[-1]
    T = work.shape[0]
    B_t = _time_major(_as_groups(B).to(compute))   # (L, rows, G, N)
    C_t = _time_major(_as_groups(C).to(compute))
    u_t, _, dt_t = _inputs_time_major(u, delta, delta_bias, delta_softplus,
                                      compute)
    y_t = torch.empty_like(u_t)
    num_chunks = math.ceil(length / T)
    h = None
    for c in range(num_chunks):
        t0, t1 = c * T, min(length, (c + 1) * T)
        _, hs = work.forward_chunk(dt_t[t0:t1], u_t[t0:t1], A, B_t[t0:t1], h)
        work.contract_C(hs, C_t[t0:t1], out=y_t[t0:t1])
        if c + 1 < num_chunks:  # the buffers are reused: copy out
            h = boundary[c].copy_(hs[-1])
    if D is not None:
        y_t.addcmul_(u_t, D)
    return y_t


def _backward_rows(work, r, dout, u, delta, A, B, C, D, z, delta_bias,
                   delta_softplus, boundary, y_pre, compute, grads):
    """Gradients of the rows ``r``.

    They are written into the ``r`` slices of
    ``grads['du' | 'ddelta' | 'dB' | 'dC' | 'dz']`` and summed into
    ``grads['dA' | 'dD' | 'd_bias']``. ``B`` and ``C`` are grouped
    ``(batch, G, N, L)``; ``A`` and ``D`` are in the compute dtype.
    """
    length = u.shape[-1]
    T = work.shape[0]
    B_t = _time_major(B[r].to(compute))
    C_t = _time_major(C[r].to(compute))
    u_t, pre_t, dt_t = _inputs_time_major(u[r], delta[r], delta_bias,
                                          delta_softplus, compute)
    dy_t = _time_major(dout[r].to(compute))
    if z is not None:
        z_t = _time_major(z[r].to(compute))
        sig = torch.sigmoid(z_t)
        # d silu(z)/dz = sig * (1 + z * (1 - sig))
        dz_t = torch.mul(dy_t, _time_major(y_pre[r])).mul_(sig).mul_(
            (1 - sig).mul_(z_t).add_(1))
        grads['dz'][r] = _time_last(dz_t)
        del dz_t
        dy_t.mul_(z_t.mul_(sig))              # dL/dy before the gate
        del z_t, sig
    if D is not None:
        grads['dD'].add_(torch.mul(dy_t, u_t).sum((0, 1)))

    ddt_t = torch.empty_like(dt_t)      # dL/d(dt), (L, rows, D)
    ddu_t = torch.empty_like(dt_t)      # dL/d(dt * u)
    dB_t = torch.empty_like(B_t)
    dC_t = torch.empty_like(C_t)
    num_chunks = math.ceil(length / T)
    carry = None  # dL/dh at a chunk's last step from the steps after it
    for c in reversed(range(num_chunks)):
        t0, t1 = c * T, min(length, (c + 1) * T)
        h0 = boundary[c - 1, r] if c > 0 else None
        carry = work.backward_chunk(
            dt_t[t0:t1], u_t[t0:t1], A, B_t[t0:t1], C_t[t0:t1],
            dy_t[t0:t1], h0, carry, ddt_t[t0:t1], ddu_t[t0:t1],
            dB_t[t0:t1], dC_t[t0:t1], grads['dA'])
    del carry

    ddt_t.addcmul_(ddu_t, u_t)              # d(dt * u)/d(dt) = u
    du_t = ddu_t.mul_(dt_t)                 # d(dt * u)/du = dt
    if D is not None:
        du_t.addcmul_(dy_t, D)
    if delta_softplus:
        ddt_t.mul_(torch.sigmoid_(pre_t))
    if delta_bias is not None:
        grads['d_bias'].add_(ddt_t.sum((0, 1)))
    grads['du'][r] = _time_last(du_t)
    grads['ddelta'][r] = _time_last(ddt_t)
    grads['dB'][r] = _time_last(dB_t)
    grads['dC'][r] = _time_last(dC_t)


class _Workspace:
    """Reusable ``(T, batch, D, N)`` buffers and the per-chunk kernels."""

    def __init__(self, T, batch, channels, groups, state, dtype, device):
        self.shape = (T, batch, channels, state)
        self.rows = batch
        self.groups, self.dg = groups, channels // groups
        self.decay = torch.empty(self.shape, dtype=dtype, device=device)
        self.states = torch.empty(self.shape, dtype=dtype, device=device)
        self.du = torch.empty(self.shape[:3], dtype=dtype, device=device)
        self.grad = None  # allocated on first backward use

    def _grouped(self, buf, n):
        # (n, b, D, N) -> (n*b*G, Dg, N): batched-matmul view, no copy.
        T, b, D, N = buf.shape
        return buf.view(n * b * self.groups, self.dg, N)

    def forward_chunk(self, dt, u, A, B, h0):
        """States of one chunk as ``(decay, states)`` views of length n."""
        n = dt.shape[0]
        decay, hs = self.decay[:n], self.states[:n]
        torch.mul(dt.unsqueeze(-1), A, out=decay)
        decay.exp_()
        b = dt.shape[1]
        du = torch.mul(dt, u, out=self.du[:n])  # drive scale dt * u
        N = A.shape[1]
        torch.mul(du.view(n, b, self.groups, self.dg, 1),
                  B.unsqueeze(3), out=hs.view(n, b, self.groups, self.dg, N))
        if h0 is not None:
            hs[0].addcmul_(decay[0], h0)
        for t in range(1, n):
            hs[t].addcmul_(decay[t], hs[t - 1])
        return decay, hs

    def contract_C(self, hs, C, out):
        """``out[t, b, d] = sum_n hs[t, b, d, n] * C[t, b, g(d), n]``.

        Uses the transition buffer as scratch (free once the states exist);
        an elementwise product and a sum beat a batched mat-vec here.
        """
        n, b = hs.shape[:2]
        N = hs.shape[-1]
        prod = torch.mul(
            hs.view(n, b, self.groups, self.dg, N), C.unsqueeze(3),
            out=self.decay[:n].view(n, b, self.groups, self.dg, N))
        torch.sum(prod.view(hs.shape), dim=-1, out=out)

    def backward_chunk(self, dt, u, A, B, C, dy, h0, carry, ddt, ddu, dB, dC,
                       dA):
        """Gradients of one chunk.

        They are written into ``ddt, ddu, dB, dC`` (views) and accumulated
        into ``dA``; returns ``dL/dh`` of the step before.
        """
        n, b = dt.shape[:2]
        N = A.shape[1]
        decay, hs = self.forward_chunk(dt, u, A, B, h0)
        du = self.du[:n]
        rows = n * b * self.groups
        # dC[t, b, g, :] = sum_{d in g} dy[t, b, d] * h[t, b, d, :]
        torch.bmm(dy.reshape(rows, 1, self.dg), self._grouped(hs, n),
                  out=dC.view(rows, 1, N))
        if self.grad is None:
            self.grad = torch.empty_like(self.decay)
        dh = self.grad[:n]
        # Direct part of dL/dh_t: C_t * dy_t, then the reverse recurrence.
        torch.mul(dy.view(n, b, self.groups, self.dg, 1), C.unsqueeze(3),
                  out=dh.view(n, b, self.groups, self.dg, N))
        if carry is not None:
            dh[n - 1].add_(carry)
        for t in range(n - 2, -1, -1):
            dh[t].addcmul_(decay[t + 1], dh[t + 1])
        new_carry = decay[0] * dh[0]
        # Drive b_t = du_t * B_t: gradient for B.
        torch.bmm(du.reshape(rows, 1, self.dg), self._grouped(dh, n),
                  out=dB.view(rows, 1, N))
        # Transition a_t = exp(dt_t A): dL/d(dt_t A) = dh_t * h_{t-1} * a_t.
        m = decay.mul_(dh)  # reuse the transition buffer
        if n > 1:
            m[1:].mul_(hs[:-1])
        if h0 is not None:
            m[0].mul_(h0)
        else:
            m[0].zero_()
        # The states are no longer needed: hs is scratch from here on.
        grouped = (n, b, self.groups, self.dg, N)
        prod = torch.mul(dh.view(grouped), B.unsqueeze(3),
                         out=hs.view(grouped))
        torch.sum(prod.view(dh.shape), dim=-1, out=ddu)        # d(du) = dh . B
        torch.sum(torch.mul(m, A, out=hs), dim=-1, out=ddt)   # d(dt) from a_t
        dA.add_(torch.mul(m, dt.unsqueeze(-1), out=hs).sum((0, 1)))
        return new_carry


def _scan_no_grad(u, delta, A, B, C, D, z, delta_bias, delta_softplus,
                  block_size=None):
    """Forward only, for when no gradient is needed (inference).

    Same arithmetic as the autograd path, laid out for short sequences with
    many rows (SpectralMamba's per-pixel sequences: L about 7, batch = pixels).
    Works on ``(batch, L, D)`` ("channels-last") views of the inputs, which is
    how a Mamba block's projections produce them, so ``u``, ``delta`` and
    ``z`` are never transposed, and the output is a ``(batch, D, L)`` view of
    a contiguous ``(batch, L, D)`` tensor (what the block's ``out_proj``
    wants). Rows are processed in blocks of ``block_size`` (default: about
    :data:`INFERENCE_BLOCK_ELEMENTS` elements per ``(rows, L, D)`` slice), and
    everything of a block (softplus, the in-place ``(rows, N, D)`` state
    updates, the D skip and the gate) runs while it is in cache; no
    ``(batch, D, L, N)`` temporary is ever built.
    """
    compute = torch.float64 if u.dtype == torch.float64 else torch.float32
    batch, channels, length = u.shape
    state = A.shape[1]
    B_g, C_g = _as_groups(B), _as_groups(C)
    groups = B_g.shape[1]
    dg = channels // groups
    with torch.autocast(u.device.type, enabled=False):
        u_cl = u.to(compute).transpose(1, 2)              # (b, L, D) views
        delta_cl = delta.to(compute).transpose(1, 2)
        z_cl = z.to(compute).transpose(1, 2) if z is not None else None
        # (b, L, N, G, 1): B_t / C_t broadcast over the channels of a group.
        B_s = B_g.to(compute).permute(0, 3, 2, 1).unsqueeze(-1)
        C_s = C_g.to(compute).permute(0, 3, 2, 1).unsqueeze(-1)
        A_t = A.to(compute).t()                           # (N, D)
        bias = delta_bias.to(compute) if delta_bias is not None else None
        D_c = D.to(compute) if D is not None else None
        y = u_cl.new_empty((batch, length, channels))
        step = block_size or (max(
            1, INFERENCE_BLOCK_ELEMENTS // (channels * max(state, length)))
            if blocks_for_cache(u.device) else batch)
        step = min(step, batch)
        decay_buf = u_cl.new_empty(channels * state * step)
        h_buf = u_cl.new_empty(channels * state * step)
        for r0 in range(0, batch, step):
            r1 = min(batch, r0 + step)
            n = r1 - r0
            u_b = u_cl[r0:r1]
            dt = (delta_cl[r0:r1] + bias if bias is not None
                  else delta_cl[r0:r1].clone())
            if delta_softplus:
                dt = softplus(dt)
            du = dt * u_b                                 # drive scale dt * u
            decay = decay_buf[:channels * state * n].view(n, state, channels)
            h = h_buf[:channels * state * n].view(n, state, channels)
            h_g = h.view(n, state, groups, dg)
            y_b = y[r0:r1]
            for t in range(length):
                drive = du[:, t].unsqueeze(1).view(n, 1, groups, dg)
                if t == 0:
                    torch.mul(drive, B_s[r0:r1, t], out=h_g)
                else:
                    torch.mul(dt[:, t].unsqueeze(1), A_t, out=decay).exp_()
                    h.mul_(decay)
                    h_g.addcmul_(drive, B_s[r0:r1, t])
                # y_t = sum_n h[:, n] * C_t[n]: N fused steps beat a
                # reduction over the middle dimension here.
                y_t = y_b[:, t].view(n, groups, dg)
                C_t = C_s[r0:r1, t]
                torch.mul(h_g[:, 0], C_t[:, 0], out=y_t)
                for k in range(1, state):
                    y_t.addcmul_(h_g[:, k], C_t[:, k])
            if D_c is not None:
                y_b.addcmul_(u_b, D_c)
            if z_cl is not None:
                y_b.mul_(F.silu(z_cl[r0:r1]))
        out = y.to(u.dtype).transpose(1, 2)
    return out


def selective_scan_chunked(u: Tensor,
                           delta: Tensor,
                           A: Tensor,
                           B: Tensor,
                           C: Tensor,
                           D: Tensor | None = None,
                           z: Tensor | None = None,
                           delta_bias: Tensor | None = None,
                           delta_softplus: bool = False,
                           chunk_size: int | None = None,
                           row_block: int | None = None) -> Tensor:
    """Chunked selective scan with a recomputing backward (any device).

    Same semantics as :func:`m3plugins.ops.selective_scan`.

    When no gradient is needed (grad mode off, or no input requires grad)
    and ``L <= NO_GRAD_MAX_LENGTH``, a forward-only path runs instead of the
    autograd function: same result up to float rounding, written for short
    sequences with many rows (see :func:`_scan_no_grad`; ``chunk_size`` and
    ``row_block`` do not apply there).

    Args:
        u (Tensor): ``(batch, D, L)``.
        delta (Tensor): ``(batch, D, L)``.
        A (Tensor): Real, ``(D, N)``.
        B (Tensor): ``(batch, N, L)`` or grouped ``(batch, G, N, L)``.
        C (Tensor): Same layout as ``B``.
        D (Tensor, optional): ``(D,)``.
        z (Tensor, optional): ``(batch, D, L)``.
        delta_bias (Tensor, optional): ``(D,)``.
        delta_softplus (bool): Apply softplus to the biased ``delta``.
        chunk_size (int, optional): Steps per chunk; by default
            :func:`default_chunk_size`.
        row_block (int, optional): Rows (batch entries) per block of the
            autograd path; by default :func:`default_row_block`. Exact for
            any value.

    Returns:
        Tensor: ``(batch, D, L)`` in the dtype of ``u``.
    """
    if chunk_size is not None and chunk_size < 1:
        raise ValueError(f'chunk_size must be >= 1, got {chunk_size}')
    if row_block is not None and row_block < 1:
        raise ValueError(f'row_block must be >= 1, got {row_block}')
    if (u.shape[-1] <= NO_GRAD_MAX_LENGTH
            and not needs_grad(u, delta, A, B, C, D, z, delta_bias)):
        return _scan_no_grad(u, delta, A, B, C, D, z, delta_bias,
                             delta_softplus)
    return _ChunkedSelectiveScan.apply(u, delta, A, B, C, D, z, delta_bias,
                                       delta_softplus, chunk_size, row_block)
