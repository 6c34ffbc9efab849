"""cross_scan / cross_merge against explicitly built index orders."""
import pytest
import torch

from m3plugins.ops import cross_merge, cross_scan


def explicit_orders(H, W):
    """Flat row-major index of the pixel visited at each step, per path."""
    row = [h * W + w for h in range(H) for w in range(W)]
    col = [h * W + w for w in range(W) for h in range(H)]
    return [row, col, row[::-1], col[::-1]]


@pytest.mark.parametrize('H,W', [(3, 5), (4, 1), (1, 6), (2, 2)])
def test_cross_scan_follows_the_four_orders(H, W):
    x = torch.randn(2, 3, H, W)
    xs = cross_scan(x)
    assert xs.shape == (2, 4, 3, H * W)
    flat = x.flatten(2)
    for k, order in enumerate(explicit_orders(H, W)):
        assert torch.equal(xs[:, k], flat[:, :, order]), f'direction {k}'


@pytest.mark.parametrize('H,W', [(3, 5), (5, 2)])
def test_cross_merge_sums_directions_back_to_row_major(H, W):
    y = torch.randn(2, 4, 3, H * W)
    expected = torch.zeros(2, 3, H * W)
    for k, order in enumerate(explicit_orders(H, W)):
        for step, pixel in enumerate(order):
            expected[:, :, pixel] += y[:, k, :, step]
    torch.testing.assert_close(cross_merge(y, H, W), expected, rtol=0,
                               atol=1e-6)


def test_cross_merge_is_the_adjoint_and_gradients_flow():
    H, W = 3, 4
    x = torch.randn(1, 2, H, W, dtype=torch.float64, requires_grad=True)
    y = torch.randn(1, 4, 2, H * W, dtype=torch.float64, requires_grad=True)
    # <cross_scan(x), y> == <x, cross_merge(y)>
    lhs = (cross_scan(x) * y).sum()
    rhs = (x.flatten(2) * cross_merge(y, H, W)).sum()
    torch.testing.assert_close(lhs, rhs)
    assert torch.autograd.gradcheck(cross_scan, (x, ))
    assert torch.autograd.gradcheck(lambda t: cross_merge(t, H, W), (y, ))


def test_bad_shapes():
    with pytest.raises(ValueError, match=r'\(B, C, H, W\)'):
        cross_scan(torch.zeros(2, 3, 4))
    with pytest.raises(ValueError, match='cross_merge expects'):
        cross_merge(torch.zeros(1, 4, 2, 12), 3, 5)
    with pytest.raises(ValueError, match='cross_merge expects'):
        cross_merge(torch.zeros(1, 2, 2, 12), 3, 4)
