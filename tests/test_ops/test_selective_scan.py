"""Selective scan: the fast implementations vs the float64 reference.

The chunked torch path (backend 'torch') and the C++ CPU kernel (backend
'cpu_kernel') are checked on the same cases. Tests that need the kernel use
the session fixture ``cpu_kernel``, which builds it (about 10 s the first
time on a machine, then loaded from torch's extension cache) and are marked
``slow``; the fallback when it cannot be built is simulated without a
compiler.

Tolerances (stated once, used everywhere below): the reference always runs in
float64 on the same (rounded) inputs. float64 results must agree to
``rtol=1e-9, atol=1e-9 * scale``; float32 results to ``rtol=2e-4,
atol=2e-4 * scale``, where ``scale`` is the largest magnitude of the reference
tensor (accumulation over up to 1000 steps in float32). bf16 under autocast:
``rtol=atol=3e-2 * scale`` (only the bf16 rounding of the output/gradients).
"""
import importlib

import pytest
import torch

from m3plugins.ops import (
    SCAN_BACKENDS,
    ScanBackendUnavailable,
    mamba_ssm_available,
    selective_scan,
    selective_scan_reference,
)
from m3plugins.ops.selective_scan_chunked import selective_scan_chunked

# The package exports a function of the same name as this module.
scan_module = importlib.import_module('m3plugins.ops.selective_scan')
kernel_module = importlib.import_module(
    'm3plugins.ops.selective_scan_cpu_kernel')

TOL = {torch.float64: 1e-9, torch.float32: 2e-4}
NAMES = ('u', 'delta', 'A', 'B', 'C', 'D', 'z', 'delta_bias')


def make_inputs(batch, channels, length, state, groups, dtype, *, use_D=True,
                use_z=True, use_bias=True, softplus=True, seed=0,
                device='cpu'):
    """Random scan inputs; ``groups=None`` gives ungrouped (batch, N, L) B/C.

    Returns ``[u, delta, A, B, C, D, z, bias]`` (absent options as None),
    each requiring grad.
    """
    gen = torch.Generator().manual_seed(seed)

    def rand(*shape):
        return torch.randn(*shape, generator=gen, dtype=torch.float64)

    u = rand(batch, channels, length)
    # Without softplus the step must already be positive for a stable scan.
    delta = rand(batch, channels, length) * 0.5 if softplus else \
        torch.rand(batch, channels, length, generator=gen,
                   dtype=torch.float64) * 0.5
    A = -torch.rand(channels, state, generator=gen,
                    dtype=torch.float64) * 2 - 0.1
    bc_shape = ((batch, state, length) if groups is None
                else (batch, groups, state, length))
    B, C = rand(*bc_shape), rand(*bc_shape)
    D = rand(channels) if use_D else None
    z = rand(batch, channels, length) if use_z else None
    bias = rand(channels) * 0.3 if use_bias else None
    return [t.to(device=device, dtype=dtype).requires_grad_()
            if t is not None else None
            for t in (u, delta, A, B, C, D, z, bias)]


def run_with_grads(fn, inputs, softplus, grad_out, **kwargs):
    y = fn(*inputs, delta_softplus=softplus, **kwargs)
    present = [t for t in inputs if t is not None]
    grads = torch.autograd.grad(y, present, grad_out)
    return y, grads


def reference64(inputs, softplus, grad_out):
    inputs64 = [t.detach().double().requires_grad_() if t is not None else None
                for t in inputs]
    return run_with_grads(selective_scan_reference, inputs64, softplus,
                          grad_out.double())


@pytest.fixture(scope='session')
def cpu_kernel():
    """The C++ CPU kernel, built or loaded once per test session."""
    module, reason = kernel_module.load_cpu_kernel()
    if module is None:
        pytest.skip(f'the CPU kernel cannot be built here: {reason}')
    return module


def scan_impl(impl, request, chunk):
    """The scan function of ``impl`` ('torch' or 'cpu_kernel').

    For 'torch' ``chunk`` is its chunk length; the kernel picks its own
    (:func:`kernel_module.default_chunk`).
    """
    if impl == 'torch':
        return lambda *a, **k: selective_scan_chunked(*a, chunk_size=chunk,
                                                      **k)
    request.getfixturevalue('cpu_kernel')
    return lambda *a, **k: selective_scan(*a, backend='cpu_kernel', **k)


IMPLS = ['torch', pytest.param('cpu_kernel', marks=pytest.mark.slow)]


def assert_close(actual, expected, dtype, what):
    tol = TOL[dtype]
    scale = expected.abs().max().item() + 1e-30
    torch.testing.assert_close(actual.double(), expected, rtol=tol,
                               atol=tol * scale, msg=lambda m: f'{what}: {m}')


CASES = [
    # batch, channels, length, state, groups, chunk_size
    (2, 8, 1, 4, 4, None),
    (2, 8, 7, 4, 2, 3),
    (2, 6, 7, 5, None, 2),
    (1, 4, 1000, 3, 1, 64),
    (1, 8, 1000, 4, 4, None),
]
OPTIONS = [
    dict(use_D=True, use_z=True, use_bias=True, softplus=True),
    dict(use_D=False, use_z=False, use_bias=False, softplus=False),
    dict(use_D=True, use_z=False, use_bias=True, softplus=False),
    dict(use_D=False, use_z=True, use_bias=False, softplus=True),
]


# Long sequences with the two extreme option sets only (test budget).
COMBOS = [
    pytest.param(case, opts, id=f'L{case[2]}-G{case[4]}-chunk{case[5]}-' +
                 ('+'.join(k for k, v in opts.items() if v) or 'plain'))
    for case in CASES for opts in OPTIONS
    if case[2] < 1000 or opts in OPTIONS[:2]
]


@pytest.mark.parametrize('impl', IMPLS)
@pytest.mark.parametrize('dtype', [torch.float64, torch.float32])
@pytest.mark.parametrize('case,opts', COMBOS)
def test_matches_float64_reference(impl, dtype, case, opts, request):
    """Output and every gradient of both fast paths, float64 and float32."""
    batch, channels, length, state, groups, chunk = case
    softplus = opts['softplus']
    flags = {k: v for k, v in opts.items() if k != 'softplus'}
    inputs = make_inputs(batch, channels, length, state, groups, dtype,
                         softplus=softplus, **flags)
    grad_out = torch.randn(batch, channels, length, dtype=torch.float64,
                           generator=torch.Generator().manual_seed(1))
    y, grads = run_with_grads(scan_impl(impl, request, chunk), inputs,
                              softplus, grad_out.to(dtype))
    y_ref, grads_ref = reference64(inputs, softplus, grad_out)
    assert y.dtype == dtype and y.shape == (batch, channels, length)
    assert_close(y, y_ref, dtype, 'output')
    names = [n for n, t in zip(NAMES, inputs) if t is not None]
    present = [t for t in inputs if t is not None]
    for name, g, g_ref, t in zip(names, grads, grads_ref, present):
        assert g.shape == t.shape and g.dtype == t.dtype, name
        assert_close(g, g_ref, dtype, f'grad {name}')


@pytest.mark.parametrize('dtype', [torch.float64, torch.float32])
@pytest.mark.parametrize('groups', [2, None])
@pytest.mark.parametrize('opts', OPTIONS[:2])
def test_row_blocks_match_float64_reference(dtype, groups, opts):
    """Row blocks of 2 (the last one of 1) and chunks of 3 steps are exact.

    The output and all gradients, including the ones summed over blocks
    (A, D, bias), equal the reference.
    """
    flags = {k: v for k, v in opts.items() if k != 'softplus'}
    inputs = make_inputs(5, 6, 7, 4, groups, dtype,
                         softplus=opts['softplus'], **flags)
    grad_out = torch.randn(5, 6, 7, dtype=torch.float64,
                           generator=torch.Generator().manual_seed(2))
    y, grads = run_with_grads(selective_scan_chunked, inputs, opts['softplus'],
                              grad_out.to(dtype), chunk_size=3, row_block=2)
    y_ref, grads_ref = reference64(inputs, opts['softplus'], grad_out)
    assert_close(y, y_ref, dtype, 'output')
    names = [n for n, t in zip(NAMES, inputs) if t is not None]
    for name, g, g_ref in zip(names, grads, grads_ref):
        assert_close(g, g_ref, dtype, f'grad {name}')


def test_default_row_block_splits_only_many_short_rows():
    chunked = importlib.import_module('m3plugins.ops.selective_scan_chunked')
    # SpectralMamba training: 8192 pixels, D 32, L 7, N 4 -> cache-sized
    # blocks.
    rows = chunked.default_row_block(8192, 32, 4, 7)
    assert chunked.MIN_ROW_BLOCK <= rows < 8192
    assert 7 * rows * 32 * 4 <= chunked.CHUNK_ELEMENTS
    # M3amba (batch 8, D 768, N 16) and wide rows stay one block.
    assert chunked.default_row_block(8, 768, 16, 8) == 8
    assert chunked.default_row_block(2, 3072, 16, 8) == 2
    # Cache blocking is a CPU matter: on a GPU every row is one block.
    assert chunked.blocks_for_cache(torch.device('cpu'))
    assert not chunked.blocks_for_cache(torch.device('cuda', 0))
    assert not chunked.blocks_for_cache('cuda')
    with pytest.raises(ValueError, match='row_block'):
        selective_scan_chunked(*make_inputs(2, 4, 3, 2, 1, torch.float32)[:5],
                               row_block=0)


def test_public_api_dispatches_to_chunked_on_cpu_without_kernel(
        monkeypatch):
    monkeypatch.setattr(scan_module, '_load_cpu_kernel',
                        lambda: (None, 'no compiler'))
    inputs = make_inputs(2, 8, 9, 4, 2, torch.float64)
    y_auto = selective_scan(*inputs, delta_softplus=True)
    y_torch = selective_scan(*inputs, delta_softplus=True, backend='torch')
    y_ref = selective_scan(*inputs, delta_softplus=True, backend='reference')
    assert torch.equal(y_auto, y_torch)
    torch.testing.assert_close(y_torch, y_ref, rtol=1e-9, atol=1e-9)
    assert scan_module.resolve_backend('auto', 'cpu') == 'torch'


@pytest.mark.slow
def test_public_api_dispatches_to_cpu_kernel_on_cpu(cpu_kernel):
    inputs = make_inputs(2, 8, 9, 4, 2, torch.float64)
    assert scan_module.resolve_backend('auto', 'cpu') == 'cpu_kernel'
    assert scan_module.resolve_backend('auto', 'cuda') != 'cpu_kernel'
    y_auto = selective_scan(*inputs, delta_softplus=True)
    y_kernel = kernel_module.selective_scan_cpu_kernel(*inputs,
                                                       delta_softplus=True)
    y_ref = selective_scan(*inputs, delta_softplus=True, backend='reference')
    assert torch.equal(y_auto, y_kernel)
    torch.testing.assert_close(y_kernel, y_ref, rtol=1e-9, atol=1e-9)
    with pytest.raises(ValueError, match='CPU tensors only'):
        kernel_module.selective_scan_cpu_kernel(
            *inputs[:5], D=inputs[5].detach().to('meta'))


@pytest.mark.parametrize('opts', OPTIONS[:2])
def test_gradcheck_tiny(opts):
    flags = {k: v for k, v in opts.items() if k != 'softplus'}
    inputs = make_inputs(1, 4, 5, 2, 2, torch.float64,
                         softplus=opts['softplus'], **flags)
    present = [t for t in inputs if t is not None]

    def fn(*args):
        it = iter(args)
        full = [next(it) if t is not None else None for t in inputs]
        return selective_scan_chunked(*full, delta_softplus=opts['softplus'],
                                      chunk_size=2)

    assert torch.autograd.gradcheck(fn, present, eps=1e-6, atol=1e-7)


def test_bf16_under_autocast_keeps_fp32_state():
    inputs = make_inputs(2, 8, 256, 8, 4, torch.float32, use_z=False)
    bf16 = [t.detach().bfloat16().requires_grad_() for t in inputs
            if t is not None]
    full = bf16[:5] + [bf16[5], None, bf16[6]]
    with torch.autocast('cpu', dtype=torch.bfloat16):
        y = selective_scan(*full, delta_softplus=True, backend='torch')
    assert y.dtype == torch.bfloat16
    grad_out = torch.randn_like(y, dtype=torch.float64)
    grads = torch.autograd.grad(y, bf16, grad_out.bfloat16())
    # Reference on the same bf16-rounded values in float64.
    y_ref, grads_ref = reference64(full, True, grad_out)
    scale = y_ref.abs().max().item()
    torch.testing.assert_close(y.double(), y_ref, rtol=3e-2, atol=3e-2 * scale)
    for g, g_ref, t in zip(grads, grads_ref, bf16):
        assert g.dtype == torch.bfloat16 and g.shape == t.shape
        torch.testing.assert_close(g.double(), g_ref, rtol=3e-2,
                                   atol=3e-2 * g_ref.abs().max().item())


def _saved_tensor_numels(fn, inputs):
    numels = []

    def pack(t):
        numels.append(t.numel())
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        y = fn(*inputs, delta_softplus=True)
    y.sum().backward()
    return numels


def test_backward_keeps_no_hidden_state_history():
    batch, channels, length, state = 2, 8, 256, 16
    inputs = make_inputs(batch, channels, length, state, 2, torch.float32)
    history = batch * channels * length * state  # (B, D, L, N)
    largest_input = max(t.numel() for t in inputs if t is not None)
    numels = _saved_tensor_numels(
        lambda *a, **k: selective_scan(*a, backend='torch', **k), inputs)
    assert max(numels) <= largest_input < history
    # Chunk-boundary states only: per (batch, channel) fewer than L*N values.
    assert sum(numels) <= 8 * largest_input
    # The check can fail: the autograd reference does keep the history.
    ref_numels = _saved_tensor_numels(selective_scan_reference, inputs)
    assert max(ref_numels) >= history


def test_bad_arguments():
    u, delta, A, B, C, D, z, bias = make_inputs(2, 8, 7, 4, 2, torch.float32)
    with pytest.raises(ValueError, match='unknown scan backend'):
        selective_scan(u, delta, A, B, C, backend='cuda_magic')
    with pytest.raises(ValueError, match='delta must have the shape'):
        selective_scan(u, delta[:, :, :5], A, B, C)
    with pytest.raises(ValueError, match='A must be'):
        selective_scan(u, delta, A[:3], B, C)
    with pytest.raises(ValueError, match='G dividing'):
        selective_scan(u, delta, A, B.new_zeros(2, 3, 4, 7), C)
    with pytest.raises(ValueError, match='B must be'):
        selective_scan(u, delta, A, B[..., :6], C)
    with pytest.raises(ValueError, match='only a real-valued A'):
        selective_scan(u, delta, A.detach().to(torch.complex64), B, C)
    with pytest.raises(ValueError, match='D must be'):
        selective_scan(u, delta, A, B, C, D=D[:4])
    with pytest.raises(ValueError, match='z must have'):
        selective_scan(u, delta, A, B, C, z=z[:1])
    with pytest.raises(ValueError, match='u must be'):
        selective_scan(u[0], delta[0], A, B, C)
    with pytest.raises(ValueError, match='chunk_size'):
        selective_scan_chunked(u, delta, A, B, C, chunk_size=0)
    assert set(SCAN_BACKENDS) == {'auto', 'mamba_ssm', 'triton', 'cpu_kernel',
                                  'torch', 'reference'}


def test_forcing_mamba_ssm_where_unusable_raises(monkeypatch):
    u, delta, A, B, C = make_inputs(1, 4, 3, 2, 1, torch.float32)[:5]
    monkeypatch.setattr(scan_module, '_load_mamba_ssm',
                        lambda: (None, 'ModuleNotFoundError: mamba_ssm'))
    # Without triton either, 'auto' falls back to the torch path on CUDA.
    monkeypatch.setattr(scan_module, '_load_triton',
                        lambda: (None, 'ModuleNotFoundError: triton'))
    with pytest.raises(ScanBackendUnavailable, match='does not import'):
        selective_scan(u, delta, A, B, C, backend='mamba_ssm')
    assert scan_module.resolve_backend('auto', 'cuda') == 'torch'
    # Importable kernel but CPU tensors: still a clear error, and auto picks
    # it on CUDA only.
    monkeypatch.setattr(scan_module, '_load_cpu_kernel',
                        lambda: (None, 'no compiler'))
    monkeypatch.setattr(scan_module, '_load_mamba_ssm', lambda: (object(), ''))
    with pytest.raises(ScanBackendUnavailable, match='CUDA tensors only'):
        selective_scan(u, delta, A, B, C, backend='mamba_ssm')
    assert scan_module.resolve_backend('auto', 'cuda') == 'mamba_ssm'
    assert scan_module.resolve_backend('auto', 'cpu') == 'torch'


@pytest.mark.skipif(not (torch.cuda.is_available() and mamba_ssm_available()),
                    reason='needs CUDA and mamba-ssm')
@pytest.mark.parametrize('groups', [None, 1, 4])
def test_equals_mamba_ssm_kernel_on_cuda(groups):
    # fp32 on GPU: rtol/atol 1e-3 * scale (different summation orders).
    inputs = make_inputs(2, 16, 200, 8, groups, torch.float32, device='cuda')
    grad_out = torch.randn(2, 16, 200, device='cuda')
    y_m, g_m = run_with_grads(
        lambda *a, **k: selective_scan(*a, backend='mamba_ssm', **k),
        inputs, True, grad_out)
    y_t, g_t = run_with_grads(
        lambda *a, **k: selective_scan(*a, backend='torch', **k),
        inputs, True, grad_out)
    for name, a, b in zip(('output', ) + NAMES, (y_m, ) + g_m, (y_t, ) + g_t):
        scale = b.abs().max().item()
        torch.testing.assert_close(a, b, rtol=1e-3, atol=1e-3 * scale,
                                   msg=name)


# The forward-only path (no gradient needed): short and long sequences, every
# option set, grouped and ungrouped B/C, row blocks that do not divide the
# batch.
NO_GRAD_CASES = [
    # batch, channels, length, state, groups, block_size
    (37, 8, 7, 4, None, 5),
    (20, 8, 7, 3, 2, None),
    (5, 8, 1, 2, 4, 2),
    (3, 4, 300, 3, 1, None),
]


# A raw biased delta can be negative: the long case (unstable then) keeps
# the option sets without that, as COMBOS does.
NO_GRAD_COMBOS = [
    pytest.param(case, opts,
                 id=f'b{case[0]}-L{case[2]}-G{case[4]}-blk{case[5]}-' +
                 ('+'.join(k for k, v in opts.items() if v) or 'plain'))
    for case in NO_GRAD_CASES for opts in OPTIONS
    if case[2] < 100 or opts['softplus'] or not opts['use_bias']
]


@pytest.mark.parametrize('dtype', [torch.float64, torch.float32])
@pytest.mark.parametrize('case,opts', NO_GRAD_COMBOS)
def test_no_grad_path_matches_float64_reference(dtype, case, opts):
    batch, channels, length, state, groups, block = case
    softplus = opts['softplus']
    flags = {k: v for k, v in opts.items() if k != 'softplus'}
    inputs = [t.detach() if t is not None else None
              for t in make_inputs(batch, channels, length, state, groups,
                                   dtype, softplus=softplus, **flags)]
    chunked = importlib.import_module('m3plugins.ops.selective_scan_chunked')
    y = chunked._scan_no_grad(*inputs, softplus, block_size=block)
    with torch.no_grad():
        y_ref = selective_scan_reference(
            *[t.double() if t is not None else None for t in inputs],
            delta_softplus=softplus)
    assert y.dtype == dtype and y.shape == (batch, channels, length)
    assert_close(y, y_ref, dtype, 'no-grad output')


def test_no_grad_path_is_taken_and_agrees_with_autograd_path(monkeypatch):
    """Without a gradient to compute the torch backend takes the no-grad path.

    That is under no_grad or without inputs requiring grad. The path agrees
    with the autograd function, also on the strided (batch, L, D)-storage
    views a Mamba block passes, and on a reversed (flipped) sequence.
    """
    chunked = importlib.import_module('m3plugins.ops.selective_scan_chunked')
    inputs = make_inputs(64, 8, 7, 4, 2, torch.float32)
    calls = []
    real = chunked._scan_no_grad
    monkeypatch.setattr(chunked, '_scan_no_grad',
                        lambda *a, **k: calls.append(1) or real(*a, **k))
    y_grad = selective_scan(*inputs, delta_softplus=True, backend='torch')
    assert not calls and y_grad.requires_grad
    with torch.no_grad():
        y = selective_scan(*inputs, delta_softplus=True, backend='torch')
    assert calls == [1]
    torch.testing.assert_close(y, y_grad.detach(), rtol=1e-5, atol=1e-5)
    detached = [t.detach() if t is not None else None for t in inputs]
    # Grad mode on, nothing requires grad.
    selective_scan(*detached, delta_softplus=True, backend='torch')
    assert calls == [1, 1]
    long_inputs = [t.detach() if t is not None else None
                   for t in make_inputs(2, 8, chunked.NO_GRAD_MAX_LENGTH + 1,
                                        4, 2, torch.float32)]
    selective_scan(*long_inputs, delta_softplus=True,
                   backend='torch')  # long: chunked path
    assert calls == [1, 1]
    # Channels-last storage (what in_proj/x_proj produce), flipped along L.
    u, delta, A, B, C, D, z, bias = detached
    xz = torch.cat([u, z], 1).transpose(1, 2).contiguous().transpose(1, 2)
    u_v, z_v = xz.flip(-1).chunk(2, dim=1)
    B_v = B.permute(0, 3, 1, 2).contiguous().permute(0, 2, 3, 1).flip(-1)
    C_v = C.permute(0, 3, 1, 2).contiguous().permute(0, 2, 3, 1).flip(-1)
    args = (u_v, delta.flip(-1), A, B_v, C_v, D, z_v, bias, True, None, None)
    y_fast = selective_scan_chunked(*args[:8], delta_softplus=True)
    y_slow = chunked._ChunkedSelectiveScan.apply(
        *(t.contiguous() if torch.is_tensor(t) else t for t in args))
    torch.testing.assert_close(y_fast, y_slow, rtol=1e-5, atol=1e-5)


# The C++ CPU kernel: its own corners (chunk boundaries, channel tiles with a
# partial last tile, tiles split over tasks, strided layouts), the no-grad
# path, half precision, saved state, and the fallback when it cannot be
# built. A kernel tile is 16 channels in float32 and 8 in float64.
KERNEL_CASES = [
    # batch, channels, length, state, groups, chunk state vectors
    (1, 40, 33, 4, 1, 8),      # 3 tiles (16, 16, 8), split; chunks of 2
    (3, 24, 20, 5, 3, 16),     # 8 channels per group; chunks of 3
    (2, 34, 9, 3, None, None),  # ungrouped B/C, one chunk
]


@pytest.mark.slow
@pytest.mark.parametrize('dtype', [torch.float64, torch.float32])
@pytest.mark.parametrize('case', KERNEL_CASES,
                         ids=lambda c: f'b{c[0]}-D{c[1]}-L{c[2]}-G{c[4]}')
@pytest.mark.parametrize('opts', OPTIONS[:2])
def test_cpu_kernel_tiles_and_chunks_match_float64_reference(
        cpu_kernel, monkeypatch, dtype, case, opts):
    batch, channels, length, state, groups, vectors = case
    if vectors is not None:
        monkeypatch.setattr(kernel_module, 'CHUNK_STATE_VECTORS', vectors)
    flags = {k: v for k, v in opts.items() if k != 'softplus'}
    inputs = make_inputs(batch, channels, length, state, groups, dtype,
                         softplus=opts['softplus'], **flags)
    grad_out = torch.randn(batch, channels, length, dtype=torch.float64,
                           generator=torch.Generator().manual_seed(3))
    y, grads = run_with_grads(kernel_module.selective_scan_cpu_kernel,
                              inputs, opts['softplus'], grad_out.to(dtype))
    y_ref, grads_ref = reference64(inputs, opts['softplus'], grad_out)
    assert_close(y, y_ref, dtype, 'output')
    names = [n for n, t in zip(NAMES, inputs) if t is not None]
    present = [t for t in inputs if t is not None]
    for name, g, g_ref, t in zip(names, grads, grads_ref, present):
        assert g.shape == t.shape and g.dtype == t.dtype, name
        assert_close(g, g_ref, dtype, f'grad {name}')


@pytest.mark.slow
def test_cpu_kernel_strided_views_no_grad_and_saved_state(cpu_kernel):
    """Channels-last, flipped and broadcast views; no-grad; saved state.

    The kernel reads and writes through strides: channels-last ``(B, L, D)``
    storage flipped along L, as a Mamba block passes it, and the stride-0
    output gradient of ``y.sum()``. Without grad it gives the same output
    and keeps nothing; with grad it keeps chunk-boundary states only.
    """
    inputs = make_inputs(3, 32, 40, 4, 2, torch.float64)
    u, delta, A, B, C, D, z, bias = inputs
    strided = [
        u.detach().transpose(1, 2).contiguous().transpose(1, 2).flip(-1),
        delta.detach().flip(-1), A.detach(),
        B.detach().permute(0, 3, 1, 2).contiguous().permute(0, 2, 3, 1),
        C.detach().flip(-1), D.detach(),
        z.detach().transpose(1, 2).contiguous().transpose(1, 2), bias.detach()]
    strided = [t.requires_grad_() for t in strided]
    dense = [t.detach().contiguous().requires_grad_() for t in strided]
    y = kernel_module.selective_scan_cpu_kernel(*strided,
                                                delta_softplus=True)
    y_ref = selective_scan_reference(*dense, delta_softplus=True)
    torch.testing.assert_close(y, y_ref, rtol=1e-9, atol=1e-9)
    grads = torch.autograd.grad(y.sum(), strided)
    grads_ref = torch.autograd.grad(y_ref.sum(), dense)
    for name, g, g_ref in zip(NAMES, grads, grads_ref):
        torch.testing.assert_close(g, g_ref, rtol=1e-9, atol=1e-9, msg=name)
    with torch.no_grad():
        y_no_grad = kernel_module.selective_scan_cpu_kernel(
            *strided, delta_softplus=True)
    assert torch.equal(y_no_grad, y.detach())

    batch, channels, length, state = 2, 8, 256, 16
    inputs = make_inputs(batch, channels, length, state, 2, torch.float32)
    history = batch * channels * length * state
    largest_input = max(t.numel() for t in inputs if t is not None)
    numels = _saved_tensor_numels(
        lambda *a, **k: selective_scan(*a, backend='cpu_kernel', **k),
        inputs)
    assert max(numels) <= largest_input < history
    assert sum(numels) <= 8 * largest_input


@pytest.mark.slow
def test_cpu_kernel_threads_agree(cpu_kernel):
    """1 and 3 threads: same output and gradients (per-thread dA slots).

    With 3 threads and one batch row and group, the backward splits the
    group's 5 tiles over tasks whose B/C gradients are summed afterwards.
    """
    inputs = make_inputs(1, 80, 30, 4, 1, torch.float64)
    grad_out = torch.randn(1, 80, 30, dtype=torch.float64,
                           generator=torch.Generator().manual_seed(4))
    threads = torch.get_num_threads()
    results = []
    try:
        for n in (1, 3):
            torch.set_num_threads(n)
            results.append(run_with_grads(
                kernel_module.selective_scan_cpu_kernel, inputs, True,
                grad_out))
    finally:
        torch.set_num_threads(threads)
    (y1, g1), (y3, g3) = results
    assert torch.equal(y1, y3)
    for name, a, b in zip(NAMES, g1, g3):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12, msg=name)


@pytest.mark.slow
def test_cpu_kernel_bf16_under_autocast_keeps_fp32_state(cpu_kernel):
    inputs = make_inputs(2, 8, 256, 8, 4, torch.float32, use_z=False)
    bf16 = [t.detach().bfloat16().requires_grad_() for t in inputs
            if t is not None]
    full = bf16[:5] + [bf16[5], None, bf16[6]]
    with torch.autocast('cpu', dtype=torch.bfloat16):
        y = selective_scan(*full, delta_softplus=True, backend='cpu_kernel')
    assert y.dtype == torch.bfloat16
    grad_out = torch.randn_like(y, dtype=torch.float64)
    grads = torch.autograd.grad(y, bf16, grad_out.bfloat16())
    y_ref, grads_ref = reference64(full, True, grad_out)
    scale = y_ref.abs().max().item()
    torch.testing.assert_close(y.double(), y_ref, rtol=3e-2, atol=3e-2 * scale)
    for g, g_ref, t in zip(grads, grads_ref, bf16):
        assert g.dtype == torch.bfloat16 and g.shape == t.shape
        torch.testing.assert_close(g.double(), g_ref, rtol=3e-2,
                                   atol=3e-2 * g_ref.abs().max().item())


@pytest.fixture
def fresh_kernel_loader():
    """Forget the loaded kernel before and after a test that fakes builds."""
    kernel_module.load_cpu_kernel.cache_clear()
    yield
    kernel_module.load_cpu_kernel.cache_clear()


def test_failed_kernel_build_falls_back_to_torch(monkeypatch,
                                                 fresh_kernel_loader):
    """No compiler: 'auto' runs the torch path, a forced kernel says why."""
    def no_compiler():
        raise RuntimeError("Error building extension: 'c++' not found")

    monkeypatch.setattr(kernel_module, '_build', no_compiler)
    module, reason = kernel_module.load_cpu_kernel()
    assert module is None and "'c++' not found" in reason
    assert not scan_module.cpu_kernel_available()
    assert scan_module.resolve_backend('auto', 'cpu') == 'torch'
    inputs = make_inputs(2, 8, 9, 4, 2, torch.float64)
    y_auto = selective_scan(*inputs, delta_softplus=True)
    y_torch = selective_scan(*inputs, delta_softplus=True, backend='torch')
    assert torch.equal(y_auto, y_torch)
    with pytest.raises(ScanBackendUnavailable, match="'c\\+\\+' not found"):
        selective_scan(*inputs, delta_softplus=True, backend='cpu_kernel')
    with pytest.raises(RuntimeError, match='unavailable'):
        kernel_module.selective_scan_cpu_kernel(*inputs)


def test_kernel_turned_off_by_environment(monkeypatch, fresh_kernel_loader):
    monkeypatch.setattr(kernel_module, '_build', lambda: pytest.fail(
        'no build may be tried when the kernel is turned off'))
    monkeypatch.setenv(kernel_module.DISABLE_ENV, '0')
    assert kernel_module.load_cpu_kernel() == (
        None, f'turned off by {kernel_module.DISABLE_ENV}=0')
    assert scan_module.resolve_backend('auto', 'cpu') == 'torch'


def test_kernel_build_key_and_chunks():
    name = kernel_module.extension_name()
    assert name.startswith('m3plugins_scan_cpu_') and name.isidentifier()
    assert name == kernel_module.extension_name()
    assert kernel_module.default_chunk(1024, 16) == 32
    assert kernel_module.default_chunk(7, 4) == 7
    assert kernel_module.default_chunk(1024, 1024) == 1
    assert kernel_module.default_chunk(0, 4) == 1
