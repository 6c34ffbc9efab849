"""The machine-bound model of tools/benchmark_scan.py (its 'bound' section).

The counts of bytes, FMAs and exps the scan must do, the bound formula,
the piece-scan layout and the command line, without timing anything.
"""
import os.path as osp
import sys

import torch

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, osp.join(REPO, 'tools'))

import benchmark_scan  # noqa: E402


def test_scan_work_counts():
    # Forward: 4 FMAs and an exp per (B, D, L, N) element; 2 FMAs and the
    # softplus (2 exps) per (B, D, L) step.
    b, d, length, n = 2, 3, 5, 4
    elements, steps = b * d * length * n, b * d * length
    assert benchmark_scan.scan_work(b, d, length, n, backward=False) == (
        4 * elements + 2 * steps, elements + 2 * steps)
    assert benchmark_scan.scan_work(b, d, length, n, backward=False,
                                    softplus=False) == (
        4 * elements + 2 * steps, elements)
    # The gate adds an exp and 2 FMAs per step in each pass.
    fwd_gate = benchmark_scan.scan_work(b, d, length, n, backward=False,
                                        gate=True)
    assert fwd_gate == (4 * elements + 4 * steps, elements + 3 * steps)
    # Backward: 12 FMAs and an exp per element more, plus the step terms
    # again, their derivatives and softplus's sigmoid.
    fmas, exps = benchmark_scan.scan_work(b, d, length, n)
    assert fmas == 16 * elements + (2 + 2 + 6) * steps
    assert exps == 2 * elements + (2 + 2 + 1) * steps


def test_bound_and_traffic():
    rates = dict(bandwidth=10.0, fma=4.0, exp=2.0)
    # Compute-bound: 8 / 4 + 6 / 2 = 5 s against 20 / 10 = 2 s of memory.
    assert benchmark_scan.bound_seconds(20, 8, 6, rates) == dict(
        bound=5.0, memory=2.0, compute=5.0)
    assert benchmark_scan.bound_seconds(100, 8, 6, rates)['bound'] == 10.0
    shape = (2, 8, 16, 4, 2)
    # u, delta (2*8*16 each), B, C (2*2*4*16 each), float32; output like u.
    activations, out = 4 * (2 * 256 + 2 * 256), 4 * 256
    assert benchmark_scan._traffic_of(shape, False, 'fwd') == \
        activations + out
    assert benchmark_scan._traffic_of(shape, False, 'fwd+bwd') == \
        3 * activations + 2 * out
    inputs = benchmark_scan.make_inputs(*shape)
    assert benchmark_scan._traffic_of(shape, False, 'fwd+bwd') == \
        benchmark_scan.scan_traffic_bytes(inputs)
    # The gate is read in each pass and its gradient written.
    assert benchmark_scan._traffic_of(shape, True, 'fwd+bwd') == \
        3 * (activations + out) + 3 * out


def test_piece_inputs_are_channels_last_leaves():
    args = benchmark_scan.piece_inputs(5, 4, 7, 2, True)
    u, delta, A, B, C, D, z, bias = args
    assert u.shape == z.shape == delta.shape == (5, 4, 7)
    assert B.shape == C.shape == (5, 2, 7) and A.shape == (4, 2)
    for t in (u, delta, z):
        assert t.stride() == (28, 1, 4) and t.is_leaf and t.requires_grad
    assert B.stride() == C.stride() == (14, 1, 2)
    y = benchmark_scan.selective_scan(*args, True, backend='torch')
    y.backward(torch.ones_like(y))
    assert u.grad.shape == u.shape and torch.isfinite(u.grad).all()


def test_bound_section_arguments():
    args = benchmark_scan.parse_args(['--sections', 'bound'])
    assert args.sections == ['bound']
    assert args.bound_threads in ([1, 2], [1])
    args = benchmark_scan.parse_args(['--bound-threads', '1', '4'])
    assert args.bound_threads == [1, 4] and 'bound' in args.sections
