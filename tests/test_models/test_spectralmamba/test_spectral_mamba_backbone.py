"""SpectralMamba backbone and its layers on tiny CPU inputs.

Shapes, arguments, input checks, gradients, parameter count.
"""
import pytest
import torch

from m3plugins.models.spectralmamba import (
    GatedSpectralSpatialMerging,
    PiecewiseSequentialScan,
    SpectralPieceEmbedding,
    SpectralS6Block,
)
from m3plugins.models.spectralmamba.spectral_mamba import SpectralMamba
from m3plugins.utils.modalities import ModalityError


def _small(**kwargs):
    args = dict(in_channels=20, embed_dims=8, num_pieces=4, depth=1,
                block_cfg=dict(state_dims=4))
    args.update(kwargs)
    return SpectralMamba(**args)


@pytest.mark.parametrize('variant', ['patchwise', 'pixelwise'])
def test_dense_output_on_non_square_input(variant):
    model = _small(variant=variant)
    out = model(torch.randn(2, 20, 7, 11))
    assert isinstance(out, tuple) and len(out) == 1
    assert out[0].shape == (2, 8, 7, 11)
    assert torch.isfinite(out[0]).all()
    assert model.receptive_field == (5 if variant == 'patchwise' else 1)


def test_receptive_field_is_exact():
    """A change at one pixel moves outputs inside the stated square only."""
    torch.manual_seed(0)
    for variant, kernel in (('patchwise', 3), ('patchwise', 5),
                            ('pixelwise', 3)):
        model = _small(variant=variant, spatial_kernel_size=kernel).eval()
        x = torch.randn(1, 20, 15, 15)
        y = x.clone()
        y[0, :, 7, 7] += 1.0
        with torch.no_grad():
            diff = (model(x)[0] - model(y)[0]).abs().amax(dim=1)[0]
        changed = (diff > 0).nonzero()
        half = model.receptive_field // 2
        assert changed.min().item() == 7 - half
        assert changed.max().item() == 7 + half


@pytest.mark.parametrize('bands,pieces,padded', [(20, 4, 20), (21, 4, 24),
                                                 (145, 6, 150), (7, 7, 7)])
def test_piece_padding(bands, pieces, padded):
    emb = SpectralPieceEmbedding(bands, 8, num_pieces=pieces)
    assert emb.padded_channels == padded
    assert emb(torch.randn(5, bands)).shape == (5, pieces, 8)
    model = _small(in_channels=bands, num_pieces=pieces)
    assert model(torch.randn(1, bands, 3, 4))[0].shape == (1, 8, 3, 4)


def test_unshared_piece_embedding_matches_pieces():
    emb = SpectralPieceEmbedding(6, 2, num_pieces=3, share_embedding=False)
    with torch.no_grad():
        emb.bias.zero_()
    spectra = torch.zeros(1, 6)
    spectra[0, 2:4] = 1.0  # only piece 1 is non-zero
    tokens = emb(spectra)
    assert tokens[0, 0].abs().sum() == 0 and tokens[0, 2].abs().sum() == 0
    assert torch.allclose(tokens[0, 1], emb.weight[1].sum(0))


def test_pixels_are_independent_sequences_and_chunking_is_exact():
    torch.manual_seed(0)
    pss = PiecewiseSequentialScan(
        12, embed_dims=8, num_pieces=3, depth=1, pixel_chunk_size=None,
        block_cfg=dict(state_dims=4)).eval()
    spectrum = torch.randn(2, 12, 5, 6)
    with torch.no_grad():
        whole = pss(spectrum)
        pss.pixel_chunk_size = 7
        chunked = pss(spectrum)
        single = pss.scan_pixels(spectrum[1, :, 3, 4][None])
    assert whole.shape == (2, 8, 5, 6)
    torch.testing.assert_close(chunked, whole, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(single[0], whole[1, :, 3, 4], rtol=1e-5,
                               atol=1e-6)


def test_s6_block_initialisation_and_directions():
    torch.manual_seed(0)
    block = SpectralS6Block(16, state_dims=4, expand=2, bidirectional=True)
    scan = block.forward_scan
    assert torch.allclose(scan.A_log[3], torch.log(torch.arange(1., 5.)))
    assert torch.equal(scan.D, torch.ones(32))
    dt = torch.nn.functional.softplus(scan.dt_proj.bias)
    assert dt.min() >= 1e-3 - 1e-7 and dt.max() <= 1e-1 + 1e-7
    tokens = torch.randn(3, 6, 16)
    out = block(tokens)
    assert out.shape == (3, 6, 16)
    # a forward-only block: the first output token ignores later tokens
    causal = SpectralS6Block(16, state_dims=4, bidirectional=False)
    changed = tokens.clone()
    changed[:, -1] = torch.randn(3, 16)  # (a constant shift would vanish
    # in the pre-norm LayerNorm)
    assert torch.allclose(causal(tokens)[:, 0], causal(changed)[:, 0])
    assert not torch.allclose(block(tokens)[:, 0], block(changed)[:, 0])


def test_gssm_gates_every_band_with_an_input_dependent_mask():
    gssm = GatedSpectralSpatialMerging(10, kernel_size=3)
    x = torch.rand(2, 10, 6, 5) + 0.1
    mask = gssm.mask(x)
    assert mask.shape == x.shape
    assert ((mask > 0) & (mask < 1)).all()
    assert not torch.allclose(mask, gssm.mask(x * 2))
    torch.testing.assert_close(gssm(x), x * mask)
    # The in-place inference path (no autograd) gives the same gate, and
    # leaves its input alone, also unpadded.
    x_before = x.clone()
    with torch.no_grad():
        torch.testing.assert_close(gssm(x), x * mask)
        unpadded = GatedSpectralSpatialMerging(10, kernel_size=3,
                                               same_padding=False)
        expected = x[..., 1:-1, 1:-1] * torch.sigmoid(unpadded.expand(
            unpadded.act(unpadded.squeeze(unpadded.spatial(x)))))
        torch.testing.assert_close(unpadded(x), expected)
    assert torch.equal(x, x_before)


def test_multimodal_token_and_band_fusion():
    torch.manual_seed(0)
    channels = dict(hsi=20, lidar=2)
    for fusion in ('token', 'band'):
        model = _small(in_channels=None, modality_channels=channels,
                       auxiliary_fusion=fusion).eval()
        x = torch.randn(1, 22, 6, 7)
        y = x.clone()
        y[:, 20:] += 1.0  # only LiDAR changes
        with torch.no_grad():
            assert not torch.allclose(model(x)[0], model(y)[0])
    token = _small(in_channels=None, modality_channels=channels)
    assert token.auxiliary_embedding.in_channels == 2
    assert token.gssm.in_channels == 20
    band = _small(in_channels=None, modality_channels=channels,
                  auxiliary_fusion='band')
    assert band.auxiliary_embedding is None and band.gssm.in_channels == 22


def test_wrong_channel_count_and_nan_are_rejected_naming_the_modality():
    model = _small(in_channels=None, modality_channels=dict(hsi=20, lidar=1))
    with pytest.raises(ModalityError, match='hsi 20 \\+ lidar 1'):
        model(torch.randn(1, 20, 4, 4))
    x = torch.randn(1, 21, 4, 4)
    x[0, 20, 1, 1] = float('nan')
    with pytest.raises(ModalityError, match="'lidar'"):
        model(x)
    with pytest.raises(ModalityError, match='B, C, H, W'):
        model(torch.randn(21, 4, 4))


@pytest.mark.parametrize('kwargs,match', [
    (dict(modality_channels=dict(hsi=20, lidar=1)), 'does not match'),
    (dict(variant='cube'), 'variant'),
    (dict(auxiliary_fusion='concat'), 'auxiliary_fusion'),
    (dict(spatial_kernel_size=4), 'odd'),
    (dict(num_pieces=0), 'num_pieces'),
    (dict(num_pieces=21), 'cannot exceed'),
    (dict(pooling='attention'), 'pooling'),
    (dict(depth=0), 'depth'),
    (dict(pixel_chunk_size=0), 'pixel_chunk_size'),
    (dict(block_cfg=dict(state_dims=0)), 'state_dims'),
    (dict(block_cfg=dict(scan_backend='cuda')), 'scan_backend'),
    (dict(block_cfg=dict(dt_min=0.5, dt_max=0.1)), 'dt_min'),
])
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        _small(**kwargs)


def test_defaults_build_for_houston2013():
    model = SpectralMamba()
    assert dict(model.modality_channels) == dict(hsi=144, lidar=1)
    for layer in (GatedSpectralSpatialMerging(), PiecewiseSequentialScan(),
                  SpectralPieceEmbedding(), SpectralS6Block()):
        assert sum(p.numel() for p in layer.parameters()) > 0


def test_every_parameter_gets_a_gradient():
    torch.manual_seed(0)
    model = _small(in_channels=None, modality_channels=dict(hsi=21, sar=2),
                   num_pieces=4, depth=2)  # 21 bands: padded to 24
    out = model(torch.randn(2, 23, 5, 6))[0]
    out.square().mean().backward()
    for name, param in model.named_parameters():
        assert param.grad is not None, name
        assert param.grad.abs().sum() > 0, name


def test_default_model_is_tiny():
    """Tens of thousands of parameters.

    The paper reports 34.96K (patchwise, Botswana).
    """
    counts = {}
    for variant in ('patchwise', 'pixelwise'):
        for name, channels in (('houston2013', dict(hsi=144, lidar=1)),
                               ('botswana', dict(hsi=145))):
            model = SpectralMamba(modality_channels=channels, variant=variant)
            counts[variant, name] = sum(p.numel() for p in model.parameters())
    print('SpectralMamba parameters:', counts)
    assert all(10_000 <= n < 100_000 for n in counts.values()), counts
    assert counts['patchwise', 'botswana'] > counts['pixelwise', 'botswana']


@pytest.mark.parametrize('variant', ['patchwise', 'pixelwise'])
def test_inference_gssm_strips_equal_one_padded_pass(monkeypatch, variant):
    """Without autograd the GSSM's row strips equal the one-pass path.

    Each strip is zero-padded on its own (8 rows here, so the first, middle
    and last strips all occur): the merged spectrum and the features equal
    the one-pass autograd path.
    """
    torch.manual_seed(0)
    model = _small(in_channels=None, modality_channels=dict(hsi=12, lidar=1),
                   variant=variant)
    x = torch.rand(2, 13, 29, 6)
    spectrum = x[:, :12]
    monkeypatch.setattr(type(model), 'INFERENCE_GSSM_PIXELS', 1)
    one_pass = model._merged_spectrum(spectrum)       # parameters need grad
    features = model(x)[0]
    with torch.no_grad():
        strips = model._merged_spectrum(spectrum)
        features_strips = model(x)[0]
    halo = model.receptive_field // 2
    assert strips.shape == one_pass.shape == (2, 12, 29 + 2 * (halo - (
        model.spatial_kernel_size // 2)), 6 + 2 * (halo - (
            model.spatial_kernel_size // 2)))
    torch.testing.assert_close(strips, one_pass.detach(), rtol=1e-6,
                               atol=1e-6)
    torch.testing.assert_close(features_strips, features.detach(),
                               rtol=1e-5, atol=1e-5)
