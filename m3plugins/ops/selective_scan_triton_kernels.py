"""Triton kernels of the selective scan (S6): forward and recomputing backward.

The recurrence (Gu & Dao, arXiv 2312.00752; the semantics of mamba-ssm's
``selective_scan_interface``) for one channel ``d`` and state ``n``::

    dt_t = softplus(delta_t + bias)                 (bias, softplus optional)
    h_t  = exp(dt_t A) * h_{t-1} + dt_t u_t B_t
    y_t  = <C_t, h_t> + D u_t,  out_t = y_t * silu(z_t)   (D, z optional)

Layout of the work: one program per (batch entry, block of ``BLOCK_D``
channels of one B/C group). A program walks the sequence in tiles of
``BLOCK_T`` steps. Inside a tile the ``(BLOCK_D, BLOCK_T, BLOCK_N)`` linear
recurrence is solved by a parallel prefix scan over time
(``tl.associative_scan`` of the pairs ``(transition, drive)``), and the state
entering the tile is carried in registers from the previous tile, so loads
and stores of ``(BLOCK_D, BLOCK_T)`` tiles are contiguous along time and the
sequential dependency is one step per tile, not per time step.

The forward kernel writes the state entering each tile but the first (that
one is zero), ``(batch, D, tiles - 1, N)`` in float32, and nothing else for
backward (nothing at all when ``STORE_STATES`` is off, for inference). The
backward kernel walks the tiles in reverse: it recomputes the tile's states
from that boundary state, solves the reverse recurrence of ``g_t = dL/dh_t``::

    g_t = C_t dy_t + exp(dt_{t+1} A) g_{t+1}

by a reverse prefix scan (the next step's transition is loaded with the time
index shifted by one, so tile ends need no special case), carries
``g`` at the tile's first step to the previous tile, and forms every
gradient from ``h_t`` and ``g_t``. It uses ``exp(dt_t A) h_{t-1} = h_t -
dt_t u_t B_t`` instead of a shifted copy of the states.

All arithmetic is float32 whatever the input dtypes; loads are converted on
the fly and stores are converted to the output tensor's dtype.

Gradients reduced over programs: ``dB``/``dC`` sum over the channel blocks
of a group (``tl.atomic_add`` into float32 buffers when a group has more than
one block, plain stores otherwise); ``dA``, ``dD`` and the bias gradient sum
over the batch: each program adds its totals into one of ``num_slots``
float32 partial buffers (``batch entry % num_slots``), which the caller sums,
so that huge batches do not all contend for the same addresses.
"""
import triton
import triton.language as tl


@triton.jit
def _linear_recurrence_combine(decay_first, drive_first, decay_second,
                               drive_second):
    """Compose two steps ``h -> decay * h + drive`` (first, then second)."""
    return (decay_first * decay_second,
            decay_second * drive_first + drive_second)


@triton.jit
def _softplus(x):
    """``log(1 + exp(x))``, returning ``x`` above 20 like ``F.softplus``."""
    return tl.where(x > 20.0, x, tl.log(1.0 + tl.exp(tl.minimum(x, 20.0))))


@triton.jit
def selective_scan_forward_kernel(
        u_ptr, delta_ptr, A_ptr, B_ptr, C_ptr, D_ptr, z_ptr, bias_ptr,
        out_ptr, states_ptr,
        length, state_size, channels_per_group, blocks_per_group,
        stride_u_batch, stride_u_chan, stride_u_time,
        stride_delta_batch, stride_delta_chan, stride_delta_time,
        stride_A_chan, stride_A_state,
        stride_B_batch, stride_B_group, stride_B_state, stride_B_time,
        stride_C_batch, stride_C_group, stride_C_state, stride_C_time,
        stride_z_batch, stride_z_chan, stride_z_time,
        stride_out_batch, stride_out_chan, stride_out_time,
        stride_states_batch, stride_states_chan, stride_states_tile,
        HAS_D: tl.constexpr, HAS_Z: tl.constexpr, HAS_BIAS: tl.constexpr,
        SOFTPLUS: tl.constexpr, STORE_STATES: tl.constexpr,
        BLOCK_D: tl.constexpr, BLOCK_T: tl.constexpr, BLOCK_N: tl.constexpr):
    """Forward scan of one (batch entry, channel block); see the module doc.

    Writes ``out`` ``(batch, D, L)`` and, when ``STORE_STATES``, the float32
    state entering each tile ``k >= 1`` at ``states[:, :, k - 1]``
    (``(batch, D, ceil(L / BLOCK_T) - 1, N)``, contiguous in N).
    """
    batch_idx = tl.program_id(0).to(tl.int64)
    block_idx = tl.program_id(1)
    group = block_idx // blocks_per_group
    chan_in_group = ((block_idx % blocks_per_group) * BLOCK_D
                     + tl.arange(0, BLOCK_D))
    chan_mask = chan_in_group < channels_per_group
    chan = (group * channels_per_group + chan_in_group).to(tl.int64)
    state_idx = tl.arange(0, BLOCK_N)
    state_mask = state_idx < state_size
    step_in_tile = tl.arange(0, BLOCK_T)

    A = tl.load(A_ptr + chan[:, None] * stride_A_chan
                + state_idx[None, :] * stride_A_state,
                mask=chan_mask[:, None] & state_mask[None, :],
                other=0.0).to(tl.float32)
    if HAS_BIAS:
        bias = tl.load(bias_ptr + chan, mask=chan_mask,
                       other=0.0).to(tl.float32)
    if HAS_D:
        skip = tl.load(D_ptr + chan, mask=chan_mask, other=0.0).to(tl.float32)

    u_rows = u_ptr + batch_idx * stride_u_batch + chan[:, None] * stride_u_chan
    delta_rows = (delta_ptr + batch_idx * stride_delta_batch
                  + chan[:, None] * stride_delta_chan)
    z_rows = z_ptr + batch_idx * stride_z_batch + chan[:, None] * stride_z_chan
    out_rows = (out_ptr + batch_idx * stride_out_batch
                + chan[:, None] * stride_out_chan)
    B_cols = (B_ptr + batch_idx * stride_B_batch + group * stride_B_group
              + state_idx[None, :] * stride_B_state)
    C_cols = (C_ptr + batch_idx * stride_C_batch + group * stride_C_group
              + state_idx[None, :] * stride_C_state)
    states_rows = (states_ptr + batch_idx * stride_states_batch
                   + chan[:, None] * stride_states_chan + state_idx[None, :])
    chan_state_mask = chan_mask[:, None] & state_mask[None, :]

    state = tl.zeros((BLOCK_D, BLOCK_N), dtype=tl.float32)
    num_tiles = tl.cdiv(length, BLOCK_T)
    for tile in range(num_tiles):
        if STORE_STATES:
            tl.store(states_rows + (tile - 1) * stride_states_tile, state,
                     mask=chan_state_mask & (tile > 0))
        time = tile * BLOCK_T + step_in_tile
        time_mask = time < length
        chan_time_mask = chan_mask[:, None] & time_mask[None, :]
        time_state_mask = time_mask[:, None] & state_mask[None, :]

        u = tl.load(u_rows + time[None, :] * stride_u_time,
                    mask=chan_time_mask, other=0.0).to(tl.float32)
        dt = tl.load(delta_rows + time[None, :] * stride_delta_time,
                     mask=chan_time_mask, other=0.0).to(tl.float32)
        if HAS_BIAS:
            dt += bias[:, None]
        if SOFTPLUS:
            dt = _softplus(dt)
        # Padding: transition 1, drive 0.
        dt = tl.where(chan_time_mask, dt, 0.0)
        B = tl.load(B_cols + time[:, None] * stride_B_time,
                    mask=time_state_mask, other=0.0).to(tl.float32)
        C = tl.load(C_cols + time[:, None] * stride_C_time,
                    mask=time_state_mask, other=0.0).to(tl.float32)

        decay = tl.exp(dt[:, :, None] * A[:, None, :])
        drive = (dt * u)[:, :, None] * B[None, :, :]
        decay_prefix, drive_prefix = tl.associative_scan(
            (decay, drive), 1, _linear_recurrence_combine)
        states = drive_prefix + decay_prefix * state[:, None, :]

        y = tl.sum(states * C[None, :, :], axis=2)
        if HAS_D:
            y += skip[:, None] * u
        if HAS_Z:
            z = tl.load(z_rows + time[None, :] * stride_z_time,
                        mask=chan_time_mask, other=0.0).to(tl.float32)
            y *= z * tl.sigmoid(z)
        tl.store(out_rows + time[None, :] * stride_out_time,
                 y.to(out_ptr.dtype.element_ty), mask=chan_time_mask)
        # Padded steps keep the state, so the tile's last slot is the carry.
        state = tl.sum(tl.where(step_in_tile[None, :, None] == BLOCK_T - 1,
                                states, 0.0), axis=1)


@triton.jit
def selective_scan_backward_kernel(
        u_ptr, delta_ptr, A_ptr, B_ptr, C_ptr, D_ptr, z_ptr, bias_ptr,
        dout_ptr, states_ptr,
        du_ptr, ddelta_ptr, dz_ptr, dB_ptr, dC_ptr, dA_slots_ptr, dD_slots_ptr,
        dbias_slots_ptr,
        length, state_size, channels, channels_per_group, blocks_per_group,
        num_slots,
        stride_u_batch, stride_u_chan, stride_u_time,
        stride_delta_batch, stride_delta_chan, stride_delta_time,
        stride_A_chan, stride_A_state,
        stride_B_batch, stride_B_group, stride_B_state, stride_B_time,
        stride_C_batch, stride_C_group, stride_C_state, stride_C_time,
        stride_z_batch, stride_z_chan, stride_z_time,
        stride_dout_batch, stride_dout_chan, stride_dout_time,
        stride_states_batch, stride_states_chan, stride_states_tile,
        HAS_D: tl.constexpr, HAS_Z: tl.constexpr, HAS_BIAS: tl.constexpr,
        SOFTPLUS: tl.constexpr, ATOMIC_BC: tl.constexpr,
        BLOCK_D: tl.constexpr, BLOCK_T: tl.constexpr, BLOCK_N: tl.constexpr):
    """Backward of one (batch entry, channel block); see the module doc.

    ``du``, ``ddelta``, ``dz`` have the layout of a contiguous ``u``; ``dB``,
    ``dC`` are contiguous float32 ``(batch, G, N, L)`` (zeroed when
    ``ATOMIC_BC``); the slot buffers are zeroed float32 ``(num_slots, D, N)``
    and ``(num_slots, D)``.
    """
    batch_idx = tl.program_id(0).to(tl.int64)
    block_idx = tl.program_id(1)
    group = block_idx // blocks_per_group
    chan_in_group = ((block_idx % blocks_per_group) * BLOCK_D
                     + tl.arange(0, BLOCK_D))
    chan_mask = chan_in_group < channels_per_group
    chan = (group * channels_per_group + chan_in_group).to(tl.int64)
    state_idx = tl.arange(0, BLOCK_N)
    state_mask = state_idx < state_size
    step_in_tile = tl.arange(0, BLOCK_T)
    chan_state_mask = chan_mask[:, None] & state_mask[None, :]

    A = tl.load(A_ptr + chan[:, None] * stride_A_chan
                + state_idx[None, :] * stride_A_state,
                mask=chan_state_mask, other=0.0).to(tl.float32)
    if HAS_BIAS:
        bias = tl.load(bias_ptr + chan, mask=chan_mask,
                       other=0.0).to(tl.float32)
    if HAS_D:
        skip = tl.load(D_ptr + chan, mask=chan_mask, other=0.0).to(tl.float32)

    u_rows = u_ptr + batch_idx * stride_u_batch + chan[:, None] * stride_u_chan
    delta_rows = (delta_ptr + batch_idx * stride_delta_batch
                  + chan[:, None] * stride_delta_chan)
    z_rows = z_ptr + batch_idx * stride_z_batch + chan[:, None] * stride_z_chan
    dout_rows = (dout_ptr + batch_idx * stride_dout_batch
                 + chan[:, None] * stride_dout_chan)
    # Offsets into the contiguous (batch, D, L) gradients.
    grad_rows = (batch_idx * channels + chan[:, None]) * length
    B_cols = (B_ptr + batch_idx * stride_B_batch + group * stride_B_group
              + state_idx[None, :] * stride_B_state)
    C_cols = (C_ptr + batch_idx * stride_C_batch + group * stride_C_group
              + state_idx[None, :] * stride_C_state)
    num_groups = tl.num_programs(1) // blocks_per_group
    dBC_cols = ((batch_idx * num_groups + group) * state_size
                + state_idx[None, :]) * length
    states_rows = (states_ptr + batch_idx * stride_states_batch
                   + chan[:, None] * stride_states_chan + state_idx[None, :])

    dA_total = tl.zeros((BLOCK_D, BLOCK_N), dtype=tl.float32)
    dD_total = tl.zeros((BLOCK_D, ), dtype=tl.float32)
    dbias_total = tl.zeros((BLOCK_D, ), dtype=tl.float32)
    # g at the start of the next tile.
    state_grad_carry = tl.zeros((BLOCK_D, BLOCK_N), dtype=tl.float32)
    num_tiles = tl.cdiv(length, BLOCK_T)
    for tiles_done in range(num_tiles):
        tile = num_tiles - 1 - tiles_done
        time = tile * BLOCK_T + step_in_tile
        time_mask = time < length
        chan_time_mask = chan_mask[:, None] & time_mask[None, :]
        time_state_mask = time_mask[:, None] & state_mask[None, :]
        next_time = time + 1
        next_mask = chan_mask[:, None] & (next_time < length)[None, :]

        u = tl.load(u_rows + time[None, :] * stride_u_time,
                    mask=chan_time_mask, other=0.0).to(tl.float32)
        dt_pre = tl.load(delta_rows + time[None, :] * stride_delta_time,
                         mask=chan_time_mask, other=0.0).to(tl.float32)
        dt_next = tl.load(delta_rows + next_time[None, :] * stride_delta_time,
                          mask=next_mask, other=0.0).to(tl.float32)
        if HAS_BIAS:
            dt_pre += bias[:, None]
            dt_next += bias[:, None]
        if SOFTPLUS:
            dt = _softplus(dt_pre)
            dt_next = _softplus(dt_next)
        else:
            dt = dt_pre
        dt = tl.where(chan_time_mask, dt, 0.0)
        dt_next = tl.where(next_mask, dt_next, 0.0)
        B = tl.load(B_cols + time[:, None] * stride_B_time,
                    mask=time_state_mask, other=0.0).to(tl.float32)
        C = tl.load(C_cols + time[:, None] * stride_C_time,
                    mask=time_state_mask, other=0.0).to(tl.float32)
        dout = tl.load(dout_rows + time[None, :] * stride_dout_time,
                       mask=chan_time_mask, other=0.0).to(tl.float32)

        # Recompute the tile's states from the state entering it (zero at 0).
        state_in = tl.load(states_rows + (tile - 1) * stride_states_tile,
                           mask=chan_state_mask & (tile > 0), other=0.0)
        decay = tl.exp(dt[:, :, None] * A[:, None, :])
        scaled_u = dt * u
        drive = scaled_u[:, :, None] * B[None, :, :]
        decay_prefix, drive_prefix = tl.associative_scan(
            (decay, drive), 1, _linear_recurrence_combine)
        states = drive_prefix + decay_prefix * state_in[:, None, :]

        # Gate and skip: dy is dL/dy before the gate.
        if HAS_Z:
            z = tl.load(z_rows + time[None, :] * stride_z_time,
                        mask=chan_time_mask, other=0.0).to(tl.float32)
            y = tl.sum(states * C[None, :, :], axis=2)
            if HAS_D:
                y += skip[:, None] * u
            sig = tl.sigmoid(z)
            dz = dout * y * sig * (1.0 + z * (1.0 - sig))
            tl.store(dz_ptr + grad_rows + time[None, :],
                     dz.to(dz_ptr.dtype.element_ty), mask=chan_time_mask)
            dy = dout * z * sig
        else:
            dy = dout
        du = tl.zeros((BLOCK_D, BLOCK_T), dtype=tl.float32)
        if HAS_D:
            dD_total += tl.sum(dy * u, axis=1)
            du = dy * skip[:, None]

        # Reverse recurrence g_t = C_t dy_t + exp(dt_{t+1} A) g_{t+1}.
        decay_next = tl.exp(dt_next[:, :, None] * A[:, None, :])
        direct = dy[:, :, None] * C[None, :, :]
        decay_suffix, grad_suffix = tl.associative_scan(
            (decay_next, direct), 1, _linear_recurrence_combine, reverse=True)
        state_grad = grad_suffix + decay_suffix * state_grad_carry[:, None, :]
        state_grad_carry = tl.sum(
            tl.where(step_in_tile[None, :, None] == 0, state_grad, 0.0),
            axis=1)

        dC = tl.sum(dy[:, :, None] * states, axis=0)  # (BLOCK_T, BLOCK_N)
        dB = tl.sum(state_grad * scaled_u[:, :, None], axis=0)
        dscaled_u = tl.sum(state_grad * B[None, :, :], axis=2)  # dL/d(dt * u)
        # exp(dt_t A) h_{t-1} = h_t - drive_t: the transition's contribution.
        transition_grad = state_grad * (states - drive)
        ddt = tl.sum(transition_grad * A[:, None, :], axis=2) + dscaled_u * u
        dA_total += tl.sum(transition_grad * dt[:, :, None], axis=1)
        du += dscaled_u * dt
        if SOFTPLUS:
            ddt = ddt * tl.sigmoid(dt_pre)
        ddt = tl.where(chan_time_mask, ddt, 0.0)
        if HAS_BIAS:
            dbias_total += tl.sum(ddt, axis=1)
        tl.store(du_ptr + grad_rows + time[None, :],
                 du.to(du_ptr.dtype.element_ty), mask=chan_time_mask)
        tl.store(ddelta_ptr + grad_rows + time[None, :],
                 ddt.to(ddelta_ptr.dtype.element_ty), mask=chan_time_mask)
        dBC_offsets = dBC_cols + time[:, None]
        if ATOMIC_BC:
            tl.atomic_add(dB_ptr + dBC_offsets, dB, mask=time_state_mask)
            tl.atomic_add(dC_ptr + dBC_offsets, dC, mask=time_state_mask)
        else:
            tl.store(dB_ptr + dBC_offsets, dB, mask=time_state_mask)
            tl.store(dC_ptr + dBC_offsets, dC, mask=time_state_mask)

    slot = batch_idx % num_slots
    tl.atomic_add(dA_slots_ptr + (slot * channels + chan[:, None]) * state_size
                  + state_idx[None, :], dA_total, mask=chan_state_mask)
    if HAS_D:
        tl.atomic_add(dD_slots_ptr + slot * channels + chan, dD_total,
                      mask=chan_mask)
    if HAS_BIAS:
        tl.atomic_add(dbias_slots_ptr + slot * channels + chan, dbias_total,
                      mask=chan_mask)
