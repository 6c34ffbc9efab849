"""Whole-scene one-pass inference equals crop-by-crop inference.

SpectralMamba is fully convolutional with an explicit receptive field
(``backbone.receptive_field``: 5 pixels for the patchwise default, 1 for the
pixelwise variant), and every spatial convolution zero-pads. So a pixel's
prediction only depends on its ``receptive_field``-square neighbourhood, with
zeros outside the scene, and:

* crops cut from the scene zero-padded by ``receptive_field // 2`` with a
  halo of that width, keeping only each crop's centre, give exactly the
  whole-scene predictions at every (labeled) pixel;
* plain non-overlapping crops give them at every pixel at least
  ``receptive_field // 2`` inside the crop (or on a scene edge), and differ
  at the others for the patchwise variant.
"""
import functools

import pytest
import torch
import torch.nn.functional as F
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmseg.registry import MODELS
from mmseg.structures import SegDataSample

import m3plugins  # noqa: F401

HEIGHT, WIDTH, CROP = 36, 53, 16


@functools.cache
def _model(repo_root, variant):
    init_default_scope('mmseg')
    cfg = Config.fromfile(
        f'{repo_root}/configs/_base_/models/spectralmamba.py').model
    cfg.data_preprocessor.modality_channels = dict(hsi=16, lidar=1)
    cfg.backbone.variant = variant
    cfg.backbone.pixel_chunk_size = 300  # whole scene scanned in chunks
    cfg.backbone.embed_dims = cfg.decode_head.in_channels = 16
    cfg.decode_head.channels = 16
    cfg.backbone.depth = 1
    cfg.decode_head.num_classes = 5
    torch.manual_seed(0)
    return MODELS.build(cfg).eval()


def _logits(model, image):
    height, width = image.shape[-2:]
    meta = dict(img_shape=(height, width), ori_shape=(height, width))
    with torch.no_grad():
        return model.predict(image, [SegDataSample(metainfo=meta)
                                     ])[0].seg_logits.data


def _crop_by_crop(model, image, halo):
    padded = F.pad(image, (halo, halo, halo, halo))
    out = torch.zeros(5, HEIGHT, WIDTH)
    for top in range(0, HEIGHT, CROP):
        for left in range(0, WIDTH, CROP):
            bottom, right = min(top + CROP, HEIGHT), min(left + CROP, WIDTH)
            window = padded[..., top:bottom + 2 * halo, left:right + 2 * halo]
            logits = _logits(model, window)
            out[:, top:bottom, left:right] = \
                logits[:, halo:halo + bottom - top, halo:halo + right - left]
    return out


@pytest.fixture(scope='module')
def scene():
    generator = torch.Generator().manual_seed(1)
    image = torch.rand(1, 17, HEIGHT, WIDTH, generator=generator)
    labeled = torch.rand(HEIGHT, WIDTH, generator=generator) < 0.3
    return image, labeled


@pytest.mark.parametrize('variant', ['patchwise', 'pixelwise'])
def test_whole_scene_equals_crops_with_halo(repo_root, scene, variant):
    image, labeled = scene
    model = _model(repo_root, variant)
    halo = model.backbone.receptive_field // 2
    whole = _logits(model, image)
    crops = _crop_by_crop(model, image, halo)
    assert whole.shape == (5, HEIGHT, WIDTH)
    torch.testing.assert_close(crops[:, labeled], whole[:, labeled],
                               rtol=1e-4, atol=1e-5)
    assert torch.equal(crops.argmax(0)[labeled], whole.argmax(0)[labeled])


def test_plain_crops_agree_on_interior_pixels_only(repo_root, scene):
    image, _ = scene
    model = _model(repo_root, 'patchwise')
    half = model.backbone.receptive_field // 2
    whole = _logits(model, image)
    crops = _crop_by_crop(model, image, halo=0)
    rows = torch.arange(HEIGHT)[:, None].expand(HEIGHT, WIDTH)
    cols = torch.arange(WIDTH)[None].expand(HEIGHT, WIDTH)

    def near_inner_edge(index, size):
        offset = index % CROP
        return ((offset < half) & (index >= CROP)) | \
            ((offset >= CROP - half) & (index < size - (size % CROP or CROP)))

    interior = ~(near_inner_edge(rows, HEIGHT) | near_inner_edge(cols, WIDTH))
    torch.testing.assert_close(crops[:, interior], whole[:, interior],
                               rtol=1e-4, atol=1e-5)
    gap = (crops[:, ~interior] - whole[:, ~interior]).abs().amax(0)
    assert (gap > 1e-3).float().mean() > 0.5
