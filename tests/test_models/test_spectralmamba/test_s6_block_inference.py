"""SpectralS6Block's inference path equals its autograd path.

The inference path (no autograd, channels-last) gives the same outputs up to
float32 rounding (atol 1e-5 on O(1) tokens), for both directions, a
convolution longer than the sequence and grouped-free/expanded widths; the
causal direction stays causal.
"""
import pytest
import torch

from m3plugins.models.spectralmamba import SpectralS6Block


@pytest.mark.parametrize('kwargs', [
    dict(),
    dict(bidirectional=False),
    dict(state_dims=3, expand=2, conv_kernel_size=4),
    dict(conv_kernel_size=9),
], ids=['default', 'causal', 'expand2-k4', 'kernel-longer-than-L'])
def test_inference_path_matches_autograd_path(kwargs):
    torch.manual_seed(0)
    block = SpectralS6Block(16, **kwargs)
    tokens = torch.randn(37, 7, 16)
    calls = []
    real = block._forward_inference
    block._forward_inference = lambda t: calls.append(1) or real(t)
    y_grad = block(tokens)                  # parameters require grad
    assert y_grad.requires_grad and not calls
    with torch.no_grad():
        y = block(tokens)
    assert calls == [1] and y.shape == tokens.shape
    torch.testing.assert_close(y, y_grad.detach(), rtol=1e-5, atol=1e-5)


def test_inference_path_of_causal_block_is_causal():
    torch.manual_seed(0)
    block = SpectralS6Block(8, bidirectional=False).eval()
    tokens = torch.randn(5, 6, 8)
    changed = tokens.clone()
    changed[:, 4:] += 1
    with torch.no_grad():
        y, y_changed = block(tokens), block(changed)
    torch.testing.assert_close(y[:, :4], y_changed[:, :4], rtol=0, atol=0)
    assert not torch.allclose(y[:, 4:], y_changed[:, 4:])


def test_inference_pixel_chunks_are_exact_and_used_only_without_grad():
    from m3plugins.models.spectralmamba import PiecewiseSequentialScan
    torch.manual_seed(0)
    pss = PiecewiseSequentialScan(in_channels=12, embed_dims=8, num_pieces=3,
                                  inference_pixel_chunk_size=5)
    whole = PiecewiseSequentialScan(in_channels=12, embed_dims=8, num_pieces=3,
                                    inference_pixel_chunk_size=None)
    whole.load_state_dict(pss.state_dict())
    spectrum = torch.rand(2, 12, 4, 6)
    sizes = []
    real = pss.scan_pixels
    pss.scan_pixels = lambda s, e=None: sizes.append(s.shape[0]) or real(s, e)
    with torch.no_grad():
        y, y_whole = pss(spectrum), whole(spectrum)
    # images of 24 >= 5 pixels: chunks of each image's own pixel views
    assert sizes == ([5] * 4 + [4]) * 2
    torch.testing.assert_close(y, y_whole, rtol=1e-6, atol=1e-6)
    sizes.clear()
    pss(spectrum).sum().backward()          # training: pixel_chunk_size only
    assert sizes == [48]                    # small windows share a chunk
    with pytest.raises(ValueError, match='inference_pixel_chunk_size'):
        PiecewiseSequentialScan(inference_pixel_chunk_size=0)


@pytest.mark.parametrize('kernel,length', [(3, 7), (4, 7), (9, 5), (3, 1)])
@pytest.mark.parametrize('channels_last', [False, True])
def test_causal_depthwise_conv_equals_conv1d_with_gradients(
        kernel, length, channels_last):
    """The shifted multiply-add convolution equals a cut padded Conv1d.

    Both paths use it; it equals ``nn.Conv1d(padding=k-1)`` cut to L, in
    value and in every gradient.
    """
    from m3plugins.models.spectralmamba.spectral_s6_block import (
        causal_depthwise_conv,
    )
    torch.manual_seed(0)
    conv = torch.nn.Conv1d(6, 6, kernel, groups=6, padding=kernel - 1)
    x = torch.randn(5, 6, length, requires_grad=True)
    expected = conv(x)[..., :length]
    grads_expected = torch.autograd.grad(
        expected.square().sum(), (x, conv.weight, conv.bias))
    x_in = x.transpose(1, 2) if channels_last else x
    out = causal_depthwise_conv(x_in, conv, channels_last=channels_last)
    assert out.shape == x_in.shape
    out = out.transpose(1, 2) if channels_last else out
    torch.testing.assert_close(out, expected, rtol=1e-5, atol=1e-6)
    grads = torch.autograd.grad(out.square().sum(),
                                (x, conv.weight, conv.bias))
    for got, want in zip(grads, grads_expected):
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)
