"""Training on sparse labels computes only what the losses read.

``SpectralMamba(x, output_mask=m)`` gives the full forward's features at the
masked pixels, and ``SparseLabelEncoderDecoder`` (which passes the labeled
pixels as that mask) gives ``EncoderDecoder``'s losses and gradients for the
same weights, while scanning a fraction of the pixels.
"""
import copy

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmengine.structures import PixelData
from mmseg.registry import MODELS
from mmseg.structures import SegDataSample

import m3plugins  # noqa: F401
from m3plugins.models.spectralmamba import SpectralMamba


def _model_cfg(repo_root, variant='patchwise'):
    cfg = Config.fromfile(
        f'{repo_root}/configs/_base_/models/spectralmamba.py').model
    cfg.data_preprocessor.modality_channels = [('hsi', 18), ('lidar', 1)]
    cfg.backbone.variant = variant
    cfg.backbone.embed_dims = cfg.decode_head.in_channels = 8
    cfg.decode_head.channels = 8
    cfg.backbone.depth = 1
    cfg.backbone.num_pieces = 3
    cfg.decode_head.num_classes = 4
    cfg.decode_head.dropout_ratio = 0.0
    return cfg


def _sparse_batch(batch=2, size=12, fraction=0.04, seed=0):
    gen = torch.Generator().manual_seed(seed)
    inputs = torch.rand(batch, 19, size, size, generator=gen)
    samples = []
    for _ in range(batch):
        labels = torch.full((1, size, size), 255, dtype=torch.long)
        keep = torch.rand(size, size, generator=gen) < fraction
        keep[0, 0] = True  # at least one labeled pixel, on the border
        labels[0][keep] = torch.randint(0, 4, (int(keep.sum()), ),
                                        generator=gen)
        sample = SegDataSample(
            metainfo=dict(img_shape=(size, size), ori_shape=(size, size)))
        sample.gt_sem_seg = PixelData(data=labels)
        samples.append(sample)
    return inputs, samples


@pytest.mark.parametrize('variant', ['patchwise', 'pixelwise'])
def test_backbone_output_mask_keeps_masked_features_and_gradients(variant):
    torch.manual_seed(0)
    model = SpectralMamba(modality_channels=[('hsi', 18), ('lidar', 1)],
                          variant=variant, embed_dims=8, num_pieces=3,
                          depth=1)
    x = torch.rand(2, 19, 11, 13)
    mask = torch.rand(2, 11, 13, generator=torch.Generator().manual_seed(1)) \
        < 0.1
    mask[1, -1, -1] = True
    scanned = []
    model.pss.register_forward_pre_hook(
        lambda module, args, kwargs: scanned.append(
            kwargs.get('pixel_mask')), with_kwargs=True)
    dense = model(x)[0]
    sparse = model(x, output_mask=mask)[0]
    keep = mask[:, None].expand_as(dense)
    torch.testing.assert_close(sparse[keep], dense[keep], rtol=1e-5,
                               atol=1e-6)
    # Only the scan pixels the masked outputs read were scanned.
    assert scanned[0] is None
    reach = 9 if variant == 'patchwise' else 1
    assert 0 < int(scanned[1].sum()) <= reach * int(mask.sum())
    # Gradients in float64: the float32 ones differ by rounding alone (up to
    # ~1e-3 relative after the LayerNorms' cancellations).
    model.double()
    x = x.double()
    dense, sparse = model(x)[0], model(x, output_mask=mask)[0]
    params = [p for p in model.parameters() if p.requires_grad]
    grads_dense = torch.autograd.grad((dense * keep).square().sum(), params)
    grads_sparse = torch.autograd.grad((sparse * keep).square().sum(), params)
    for g_sparse, g_dense in zip(grads_sparse, grads_dense):
        torch.testing.assert_close(g_sparse, g_dense, rtol=1e-9, atol=1e-12)


def test_backbone_rejects_a_mask_of_the_wrong_size():
    model = SpectralMamba(modality_channels=[('hsi', 18)], embed_dims=8,
                          num_pieces=3, depth=1)
    with pytest.raises(ValueError, match='output_mask must be'):
        model(torch.rand(1, 18, 6, 6), output_mask=torch.ones(1, 5, 6).bool())


@pytest.mark.parametrize('variant', ['patchwise', 'pixelwise'])
def test_sparse_label_segmentor_equals_encoder_decoder(repo_root, variant):
    """Same losses and parameter gradients as EncoderDecoder.

    In float64, so that only a real difference, not rounding, can fail it.
    """
    init_default_scope('mmseg')
    cfg = _model_cfg(repo_root, variant)
    assert cfg.type == 'SparseLabelEncoderDecoder'
    torch.manual_seed(0)
    sparse_model = MODELS.build(cfg)
    dense_cfg = copy.deepcopy(cfg)
    dense_cfg.type = 'EncoderDecoder'
    # MMSeg's EncoderDecoder does not pass the preprocessor's layout on.
    dense_cfg.backbone.modality_channels = \
        dense_cfg.data_preprocessor.modality_channels
    dense_model = MODELS.build(dense_cfg)
    dense_model.load_state_dict(sparse_model.state_dict())
    sparse_model.double()
    dense_model.double()
    inputs, samples = _sparse_batch()
    inputs = inputs.double()

    results = []
    for model in (sparse_model, dense_model):
        model.train()
        losses = model.loss(inputs, samples)
        loss, _ = model.parse_losses(losses)
        grads = torch.autograd.grad(
            loss, [p for p in model.parameters() if p.requires_grad])
        results.append((loss, grads))
    (loss_s, grads_s), (loss_d, grads_d) = results
    torch.testing.assert_close(loss_s, loss_d, rtol=1e-12, atol=1e-12)
    for g_s, g_d in zip(grads_s, grads_d):
        torch.testing.assert_close(g_s, g_d, rtol=1e-9, atol=1e-12)


def test_sparse_label_segmentor_scans_only_the_needed_pixels(repo_root):
    init_default_scope('mmseg')
    torch.manual_seed(0)
    model = MODELS.build(_model_cfg(repo_root)).train()
    inputs, samples = _sparse_batch(size=16, fraction=0.02)
    scanned = []
    model.backbone.pss.register_forward_pre_hook(
        lambda module, args, kwargs: scanned.append(
            int(kwargs['pixel_mask'].sum())), with_kwargs=True)
    model.loss(inputs, samples)
    labeled = sum(int((s.gt_sem_seg.data != 255).sum()) for s in samples)
    grid = 2 * (16 + 2)**2   # the scan grid: crop + 1-pixel halo per side
    assert scanned and scanned[0] <= 9 * labeled < grid


def test_unlabeled_batch_and_foreign_label_sizes_run_the_full_backbone(
        repo_root):
    init_default_scope('mmseg')
    torch.manual_seed(0)
    model = MODELS.build(_model_cfg(repo_root)).train()
    inputs, samples = _sparse_batch()
    for sample in samples:
        sample.gt_sem_seg.data[:] = 255
    assert model.labeled_output_mask(inputs, samples) is None
    # the backbone still runs (all pixels), the loss stays finite
    assert torch.isfinite(model.parse_losses(model.loss(inputs, samples))[0])
    _, samples = _sparse_batch(size=10)
    assert model.labeled_output_mask(inputs, samples) is None


def test_construction_checks(repo_root):
    init_default_scope('mmseg')
    cfg = _model_cfg(repo_root)
    wide_head = copy.deepcopy(cfg)
    wide_head.decode_head.num_convs = 1
    wide_head.decode_head.kernel_size = 3
    with pytest.raises(ValueError, match='feature_margin'):
        MODELS.build(wide_head)
    wide_head.feature_margin = 1
    model = MODELS.build(wide_head)   # margin large enough: accepted
    inputs, samples = _sparse_batch()
    mask = model.labeled_output_mask(inputs, samples)
    labeled = torch.stack([s.gt_sem_seg.data[0] != 255 for s in samples])
    assert mask[labeled].all() and int(mask.sum()) > int(labeled.sum())
    other_ignore = copy.deepcopy(cfg)
    other_ignore.auxiliary_head = dict(
        cfg.decode_head, ignore_index=0, loss_decode=dict(
            type='CrossEntropyLoss', loss_weight=0.4))
    with pytest.raises(ValueError, match='ignore_index'):
        MODELS.build(other_ignore)
    no_mask_backbone = copy.deepcopy(cfg)
    no_mask_backbone.backbone = dict(
        type='mmseg.ResNetV1c', depth=18, in_channels=19)
    with pytest.raises(TypeError, match='output_mask'):
        MODELS.build(no_mask_backbone)
    other_layout = copy.deepcopy(cfg)
    other_layout.backbone.modality_channels = [('hsi', 18)]
    with pytest.raises(ValueError, match=r'backbone.modality_channels .* '
                       r'hsi=18, lidar=1'):
        MODELS.build(other_layout)
