"""Triton selective scan: interpreted vs the float64 reference, dispatch, CUDA.

The kernels are checked on CPU with Triton's interpreter.
``TRITON_INTERPRET=1`` must be set before ``triton`` is imported, and this
process has imported it already (and must not run other tests interpreted),
so one subprocess (this file run as a script, see
:func:`interpreter_worker`) runs every case and saves the outputs and
gradients; the tests here compare them with the float64 reference on the
same rounded inputs.

Tolerances, relative to the largest magnitude ``scale`` of the reference
tensor: float32 ``rtol=2e-4, atol=2e-4 * scale`` (as the torch backend's
tests); float16 ``3e-3``; bfloat16 ``3e-2`` (the rounding of the output and of
each gradient to 8 bits of mantissa). The state and sums are float32 in every
case.

The ``test_cuda_*`` tests need a GPU (``tools/gpu_check.py`` runs them).
"""
import argparse
import importlib
import os
import subprocess
import sys

import pytest
import torch
from test_selective_scan import OPTIONS, make_inputs, reference64

scan_module = importlib.import_module('m3plugins.ops.selective_scan')
selective_scan = scan_module.selective_scan
ScanBackendUnavailable = scan_module.ScanBackendUnavailable

NAMES = ('u', 'delta', 'A', 'B', 'C', 'D', 'z', 'delta_bias')
DTYPES = {'float32': torch.float32, 'bfloat16': torch.bfloat16,
          'float16': torch.float16}
TOL = {'float32': 2e-4, 'float16': 3e-3, 'bfloat16': 3e-2}

# batch, channels, length, state, groups, block_d, block_t. Every case but the
# last crosses tile boundaries (L > block_t, last tile padded); the first two
# have several channel blocks per group (summed dB/dC), the second a partial
# one.
CASES = [
    (2, 8, 11, 3, 2, 2, 4),
    (2, 6, 9, 4, None, 4, 4),
    (1, 4, 40, 4, 1, 4, 8),
    (3, 4, 5, 2, 4, None, None),   # default block sizes: one tile
]


def _case_id(case, opts, dtype):
    flags = '+'.join(k for k, v in opts.items() if v) or 'plain'
    return f'{dtype}-L{case[2]}-G{case[4]}-bd{case[5]}-bt{case[6]}-{flags}'


def _combos():
    combos = []
    for case in CASES:
        for opts in OPTIONS:
            combos.append((case, opts, 'float32'))
    for dtype in ('bfloat16', 'float16'):
        for case in CASES[:2]:
            for opts in OPTIONS[:2]:
                combos.append((case, opts, dtype))
    return combos


COMBOS = _combos()


def _inputs(case, opts, dtype):
    batch, channels, length, state, groups = case[:5]
    flags = {k: v for k, v in opts.items() if k != 'softplus'}
    inputs = make_inputs(batch, channels, length, state, groups, DTYPES[dtype],
                         softplus=opts['softplus'], **flags)
    grad_out = torch.randn(
        batch, channels, length, dtype=torch.float64,
        generator=torch.Generator().manual_seed(3)).to(DTYPES[dtype])
    return inputs, grad_out


def interpreter_worker(out_path):
    """Run every case with the kernels interpreted; save the results.

    Runs in a subprocess with ``TRITON_INTERPRET=1``. Also records what the
    dispatcher does there and the sizes of the tensors saved for backward.
    """
    assert os.environ.get('TRITON_INTERPRET') == '1'
    from m3plugins.ops.selective_scan_triton import selective_scan_triton
    results = {}
    for case, opts, dtype in COMBOS:
        inputs, grad_out = _inputs(case, opts, dtype)
        y = selective_scan_triton(*inputs, delta_softplus=opts['softplus'],
                                  block_d=case[5], block_t=case[6])
        present = [t for t in inputs if t is not None]
        grads = torch.autograd.grad(y, present, grad_out)
        results[_case_id(case, opts, dtype)] = (y, grads)

    # Fewer reduction slots than batch entries: programs share slots.
    triton_scan = importlib.import_module(
        'm3plugins.ops.selective_scan_triton')
    triton_scan.MAX_REDUCTION_SLOTS = 2
    inputs, grad_out = _inputs(CASES[3], OPTIONS[0], 'float32')
    y = selective_scan_triton(*inputs, delta_softplus=True)
    results['shared_slots'] = (y, torch.autograd.grad(
        y, [t for t in inputs if t is not None], grad_out))

    inputs, _ = _inputs(CASES[0], OPTIONS[0], 'float32')
    forced = selective_scan(*inputs, delta_softplus=True, backend='triton')
    direct = selective_scan_triton(*inputs, delta_softplus=True)
    results['dispatch'] = dict(
        forced_equals_direct=torch.equal(forced, direct),
        auto_on_cpu=scan_module.resolve_backend('auto', 'cpu'))

    # Without grad the forward kernel runs alone: same output, several tiles
    # or one.
    no_grad_equal = []
    for case in (CASES[0], CASES[3]):
        inputs, _ = _inputs(case, OPTIONS[0], 'float32')
        y = selective_scan_triton(*inputs, delta_softplus=True,
                                  block_d=case[5], block_t=case[6])
        with torch.no_grad():
            y_no_grad = selective_scan_triton(*inputs, delta_softplus=True,
                                              block_d=case[5],
                                              block_t=case[6])
        no_grad_equal.append(torch.equal(y, y_no_grad)
                             and not y_no_grad.requires_grad)
    results['no_grad_equal'] = no_grad_equal

    # Sizes saved for backward at a longer sequence: no (B, D, L, N) history.
    batch, channels, length, state = 1, 4, 256, 8
    inputs = make_inputs(batch, channels, length, state, 2, torch.float32)
    numels = []

    def pack(t):
        numels.append(t.numel())
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        y = selective_scan_triton(*inputs, delta_softplus=True, block_t=32)
    results['saved'] = dict(
        numels=numels, history=batch * channels * length * state,
        tile_states=batch * channels * (length // 32 - 1) * state,
        largest_input=max(t.numel() for t in inputs if t is not None))
    torch.save(results, out_path)


@pytest.fixture(scope='module')
def interpreted(tmp_path_factory):
    """Results of :func:`interpreter_worker`, run once in a subprocess."""
    pytest.importorskip('triton')
    out_path = tmp_path_factory.mktemp('triton_interpret') / 'results.pt'
    # The C++ CPU kernel is off there: 'auto' on CPU is checked to stay off
    # Triton, and no kernel build belongs in this subprocess.
    env = dict(os.environ, TRITON_INTERPRET='1', M3PLUGINS_SCAN_CPU_KERNEL='0')
    proc = subprocess.run([sys.executable, os.path.abspath(__file__),
                           '--worker', str(out_path)], env=env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return torch.load(out_path, weights_only=False)


@pytest.mark.parametrize('case,opts,dtype', [
    pytest.param(*combo, id=_case_id(*combo)) for combo in COMBOS])
def test_interpreted_kernels_match_float64_reference(interpreted, case, opts,
                                                     dtype):
    inputs, grad_out = _inputs(case, opts, dtype)
    y, grads = interpreted[_case_id(case, opts, dtype)]
    y_ref, grads_ref = reference64(inputs, opts['softplus'], grad_out.double())
    tol = TOL[dtype]
    assert y.dtype == DTYPES[dtype] and y.shape == inputs[0].shape
    present = [(n, t) for n, t in zip(NAMES, inputs) if t is not None]
    for (name, t), g, g_ref in zip([('output', y)] + present,
                                   (y, ) + tuple(grads),
                                   (y_ref, ) + tuple(grads_ref)):
        if name != 'output':
            assert g.shape == t.shape and g.dtype == t.dtype, name
        scale = g_ref.abs().max().item() + 1e-30
        torch.testing.assert_close(g.double(), g_ref, rtol=tol,
                                   atol=tol * scale,
                                   msg=lambda m: f'{name}: {m}')


def test_interpreted_batch_sums_with_shared_slots(interpreted):
    """dA, dD and the bias gradient stay exact with shared partial buffers.

    More batch entries than partial buffers add into them (3 entries, 2
    slots).
    """
    inputs, grad_out = _inputs(CASES[3], OPTIONS[0], 'float32')
    y, grads = interpreted['shared_slots']
    _, grads_ref = reference64(inputs, True, grad_out.double())
    for name, g, g_ref in zip(NAMES, grads, grads_ref):
        scale = g_ref.abs().max().item() + 1e-30
        torch.testing.assert_close(g.double(), g_ref, rtol=TOL['float32'],
                                   atol=TOL['float32'] * scale,
                                   msg=lambda m: f'{name}: {m}')


def test_interpreted_dispatch_and_saved_state(interpreted):
    """Dispatch on CPU, the no-grad forward and the states kept for backward.

    Forced 'triton' on CPU runs under the interpreter; 'auto' stays on the
    torch path on CPU (the C++ CPU kernel turned off); without grad the
    forward alone gives the same output; backward keeps tile-boundary
    states, not the history.
    """
    assert interpreted['dispatch'] == dict(forced_equals_direct=True,
                                           auto_on_cpu='torch')
    assert interpreted['no_grad_equal'] == [True, True]
    saved = interpreted['saved']
    assert max(saved['numels']) <= saved['largest_input'] < saved['history']
    assert sum(saved['numels']) < 8 * saved['largest_input']
    assert saved['tile_states'] in saved['numels']


def test_auto_prefers_mamba_ssm_then_triton_on_cuda(monkeypatch):
    monkeypatch.setattr(scan_module, '_load_cpu_kernel',
                        lambda: (None, 'no compiler'))
    monkeypatch.setattr(scan_module, '_load_mamba_ssm', lambda: (object(), ''))
    monkeypatch.setattr(scan_module, '_load_triton', lambda: (object(), ''))
    assert scan_module.resolve_backend('auto', 'cuda') == 'mamba_ssm'
    assert scan_module.resolve_backend('auto', 'cpu') == 'torch'
    monkeypatch.setattr(scan_module, '_load_mamba_ssm',
                        lambda: (None, 'missing'))
    assert scan_module.resolve_backend('auto', 'cuda') == 'triton'
    assert scan_module.resolve_backend('auto', 'cpu') == 'torch'
    monkeypatch.setattr(scan_module, '_load_triton', lambda: (None, 'missing'))
    assert scan_module.resolve_backend('auto', 'cuda') == 'torch'
    assert 'triton' in scan_module.SCAN_BACKENDS


def test_forcing_triton_where_unusable_raises(monkeypatch):
    u, delta, A, B, C = make_inputs(1, 4, 3, 2, 1, torch.float32)[:5]
    monkeypatch.delenv('TRITON_INTERPRET', raising=False)
    monkeypatch.setattr(scan_module, '_load_triton', lambda: (object(), ''))
    with pytest.raises(ScanBackendUnavailable, match='CUDA tensors only'):
        selective_scan(u, delta, A, B, C, backend='triton')
    monkeypatch.setattr(scan_module, '_load_triton',
                        lambda: (None, 'ModuleNotFoundError: triton'))
    with pytest.raises(ScanBackendUnavailable, match='triton does not import'):
        selective_scan(u, delta, A, B, C, backend='triton')


def test_auto_keeps_float64_off_the_float32_kernels(monkeypatch):
    """Float64 inputs take the torch path where 'auto' would pick Triton.

    The torch path is exact in float64; the kernels compute in float32.
    """
    monkeypatch.setattr(scan_module, 'resolve_backend',
                        lambda backend, device: 'triton')
    inputs = make_inputs(1, 4, 5, 2, 2, torch.float64)
    y = selective_scan(*inputs, delta_softplus=True)
    y_ref, _ = reference64(inputs, True,
                           torch.zeros(1, 4, 5, dtype=torch.float64))
    torch.testing.assert_close(y, y_ref, rtol=1e-9, atol=1e-9)


def test_package_works_without_triton():
    """The package works with triton unimportable.

    It imports, 'auto' uses the torch path, and forcing 'triton' says why it
    cannot.
    """
    code = (
        "import sys; sys.modules['triton'] = None\n"
        "import importlib, torch\n"
        "from m3plugins.ops import selective_scan\n"
        "m = importlib.import_module('m3plugins.ops.selective_scan')\n"
        "assert not m.triton_available()\n"
        "assert m.resolve_backend('auto', 'cuda') in ('torch', 'mamba_ssm')\n"
        "x = torch.randn(1, 2, 3); A = -torch.ones(2, 2); "
        "B = torch.randn(1, 2, 3)\n"
        "selective_scan(x, x.abs(), A, B, B)\n"
        "try:\n"
        "    selective_scan(x, x.abs(), A, B, B, backend='triton')\n"
        "except m.ScanBackendUnavailable as err:\n"
        "    assert 'does not import' in str(err)\n"
        "else:\n"
        "    raise AssertionError('no error')\n")
    proc = subprocess.run([sys.executable, '-c', code], capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]


def test_block_sizes_must_be_powers_of_two():
    pytest.importorskip('triton')
    triton_scan = importlib.import_module(
        'm3plugins.ops.selective_scan_triton')
    inputs = make_inputs(1, 4, 3, 2, 1, torch.float32)[:5]
    with pytest.raises(ValueError, match='block_t must be a power of two'):
        triton_scan.selective_scan_triton(*inputs, block_t=3)
    with pytest.raises(ValueError, match='block_d must be a power of two'):
        triton_scan.selective_scan_triton(*inputs, block_d=0)
    with pytest.raises(ValueError, match='float32, bfloat16 or float16'):
        triton_scan.selective_scan_triton(
            *make_inputs(1, 4, 3, 2, 1, torch.float64)[:5])
    # Defaults: one tile for short sequences, few channels for long ones.
    assert triton_scan.default_block_sizes(64, 7, 16) == (32, 8)
    assert triton_scan.default_block_sizes(768, 1024, 16) == (4, 64)
    assert triton_scan.default_block_sizes(2, 1024, 16) == (2, 64)


def _ptxas_available():
    try:
        import triton
    except ImportError:
        return False
    return os.path.exists(os.path.join(os.path.dirname(triton.__file__),
                                       'backends', 'nvidia', 'bin', 'ptxas'))


@pytest.mark.skipif(not _ptxas_available(),
                    reason="needs triton's bundled ptxas")
@pytest.mark.parametrize('dtype', ['fp32', 'bf16'])
def test_kernels_compile_for_hopper_without_a_gpu(dtype):
    """The kernels compile ahead of time to an sm_90 cubin (no device needed).

    This catches what the interpreter does not check: types, layouts, the
    scans' lowering.
    """
    import triton
    from triton.backends.compiler import GPUTarget
    from triton.compiler import ASTSource
    kernels = importlib.import_module(
        'm3plugins.ops.selective_scan_triton_kernels')
    flags = dict(HAS_D=True, HAS_Z=True, HAS_BIAS=True, SOFTPLUS=True,
                 BLOCK_D=4, BLOCK_T=64, BLOCK_N=16)
    activations = ('u_ptr', 'delta_ptr', 'B_ptr', 'C_ptr', 'z_ptr', 'out_ptr',
                   'dout_ptr', 'du_ptr', 'ddelta_ptr', 'dz_ptr')
    for kernel, extra in ((kernels.selective_scan_forward_kernel,
                           dict(STORE_STATES=True)),
                          (kernels.selective_scan_backward_kernel,
                           dict(ATOMIC_BC=True))):
        constexprs = dict(flags, **extra)
        signature = {
            name: 'constexpr' if name in constexprs else
            ('*' + (dtype if name in activations else 'fp32'))
            if name.endswith('_ptr') else 'i32'
            for name in kernel.arg_names}
        compiled = triton.compile(
            ASTSource(kernel, signature, constexprs=constexprs),
            target=GPUTarget('cuda', 90, 32), options=dict(num_warps=8))
        assert compiled.asm['cubin']


CUDA = pytest.mark.skipif(not torch.cuda.is_available(),
                          reason='needs a CUDA device')
# Full-size shapes: SS2D (M3amba), the issue shape, SpectralMamba pieces.
CUDA_SHAPES = [
    # batch, channels, length, state, groups
    (2, 4 * 768, 1024, 16, 4),
    (8, 192, 1024, 16, None),
    (16384, 64, 7, 16, 1),
]


@CUDA
@pytest.mark.parametrize('dtype', ['float32', 'bfloat16'])
@pytest.mark.parametrize('shape', CUDA_SHAPES,
                         ids=lambda s: 'x'.join(map(str, s)))
def test_cuda_triton_matches_torch_backend(shape, dtype):
    """GPU: forward and every gradient match the torch backend in float32.

    Same rounded inputs; tolerance 2e-3 * scale for float32 inputs
    (different summation orders over up to 1024 steps), bf16 as above.
    """
    inputs = make_inputs(*shape, DTYPES[dtype], device='cuda')
    grad_out = torch.randn(*shape[:3], device='cuda').to(DTYPES[dtype])
    y = selective_scan(*inputs, delta_softplus=True, backend='triton')
    present = [t for t in inputs if t is not None]
    grads = torch.autograd.grad(y, present, grad_out)
    inputs32 = [t.detach().float().requires_grad_() if t is not None
                else None for t in inputs]
    y_ref = selective_scan(*inputs32, delta_softplus=True, backend='torch')
    grads_ref = torch.autograd.grad(
        y_ref, [t for t in inputs32 if t is not None], grad_out.float())
    tol = 2e-3 if dtype == 'float32' else TOL[dtype]
    names = ['output'] + [n for n, t in zip(NAMES, inputs) if t is not None]
    for name, g, g_ref in zip(names, (y, ) + grads, (y_ref, ) + grads_ref):
        scale = g_ref.abs().max().item() + 1e-30
        torch.testing.assert_close(g.float(), g_ref, rtol=tol,
                                   atol=tol * scale,
                                   msg=lambda m: f'{name}: {m}')


@CUDA
def test_cuda_auto_uses_a_gpu_kernel():
    assert scan_module.resolve_backend('auto', 'cuda') in ('mamba_ssm',
                                                          'triton')


if __name__ == '__main__':
    parser = argparse.ArgumentParser(
        description='interpreter worker of these tests')
    parser.add_argument('--worker', required=True,
                        help='where to save the results')
    interpreter_worker(parser.parse_args().worker)
