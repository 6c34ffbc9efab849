"""MultimodalSegDataPreProcessor: normalisation, MCRM, missing modalities.

The MCRM and missing-modality figures below were produced by the former
``ModalityConditionalRandomMaskingHook`` and
``MoBaNetSegmentor.missing_modality`` (the commit before this preprocessor)
on the same inputs and seeds; the preprocessor must give the same masks,
normalised batches and logits.
"""
import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmseg.registry import MODELS
from mmseg.structures import SegDataSample
from mobanet_helpers import make_batch as make_model_batch
from mobanet_helpers import tiny_model_cfg

import m3plugins  # noqa: F401
from m3plugins.models.data_preprocessors import (
    ModalityConditionalRandomMasking,
    MultimodalSegDataPreProcessor,
    sample_rectangle,
)
from m3plugins.utils.modalities import ModalityError

LAYOUT = [('optical', 3), ('dsm', 1)]
MEAN = [123.675, 116.28, 103.53, 0.0]
STD = [58.395, 57.12, 57.375, 1.0]


def build(**kwargs):
    kwargs.setdefault('modality_channels', LAYOUT)
    kwargs.setdefault('mean', MEAN)
    kwargs.setdefault('std', STD)
    kwargs.setdefault('size', (64, 64))
    return MODELS.build(dict(type='MultimodalSegDataPreProcessor', **kwargs))


def random_batch(batch_size, size=(64, 48)):
    """uint8 samples (4, H, W) drawn one after another from one seed."""
    gen = torch.Generator().manual_seed(1)
    return dict(
        inputs=[torch.randint(0, 256, (4, *size), generator=gen,
                              dtype=torch.uint8)
                for _ in range(batch_size)],
        data_samples=[SegDataSample() for _ in range(batch_size)])


def constant_batch(batch_size=8, size=(64, 64), value=7):
    return dict(
        inputs=[torch.full((4, *size), value, dtype=torch.uint8)
                for _ in range(batch_size)],
        data_samples=[SegDataSample() for _ in range(batch_size)])


def masked_boxes(samples):
    return {i: (s.metainfo['mcrm_modality'],
                [list(box) for box in s.metainfo['mcrm_boxes']])
            for i, s in enumerate(samples) if 'mcrm_modality' in s.metainfo}


# (seed, ratio, num_blocks, batch, numpy global seed, masks, sum, abs sum)
OLD_HOOK_REFERENCE = [
    (0, 0.25, 1, 8, None,
     {2: ('optical', [[21, 6, 22, 39]]), 4: ('dsm', [[25, 15, 20, 32]])},
     3082757.461088901, 3146549.482462269),
    (3, 0.5, 2, 12, None,
     {0: ('dsm', [[1, 2, 32, 24], [17, 9, 24, 26]]),
      1: ('dsm', [[31, 16, 23, 32], [24, 16, 28, 26]]),
      2: ('optical', [[6, 5, 16, 31], [11, 6, 19, 35]]),
      7: ('optical', [[12, 18, 14, 23], [28, 19, 18, 20]]),
      10: ('dsm', [[30, 12, 15, 29], [10, 15, 28, 27]]),
      11: ('optical', [[28, 15, 31, 26], [38, 6, 23, 35]])},
     4344265.292345742, 4436580.994015846),
    (None, 1.0, 1, 6, 123,
     {0: ('optical', [[24, 22, 32, 23]]), 1: ('dsm', [[18, 15, 27, 33]]),
      2: ('optical', [[37, 7, 22, 34]]), 3: ('optical', [[24, 12, 22, 23]]),
      4: ('dsm', [[36, 7, 16, 31]]), 5: ('dsm', [[3, 24, 17, 23]])},
     2144265.2996445852, 2188364.161034512),
]


@pytest.mark.parametrize(
    'seed, ratio, num_blocks, batch_size, np_seed, masks, total, abs_total',
    OLD_HOOK_REFERENCE)
def test_mcrm_reproduces_the_former_hook(seed, ratio, num_blocks,
                                         batch_size, np_seed, masks, total,
                                         abs_total):
    if np_seed is not None:
        np.random.seed(np_seed)
    pre = build(mcrm=dict(ratio=ratio, num_blocks=num_blocks, seed=seed))
    out = pre(random_batch(batch_size), True)
    assert out['inputs'].shape == (batch_size, 4, 64, 64)
    assert masked_boxes(out['data_samples']) == masks
    batch = out['inputs'].double()
    assert float(batch.sum()) == pytest.approx(total, rel=1e-9)
    assert float(batch.abs().sum()) == pytest.approx(abs_total, rel=1e-9)
    for sample in out['data_samples']:
        if 'mcrm_boxes' in sample.metainfo:
            boxes = sample.metainfo['mcrm_boxes']
            assert isinstance(boxes, tuple) and len(boxes) == num_blocks
            assert sample.metainfo['mcrm_box'] == boxes[0]


def test_mcrm_zero_after_normalisation_only_in_the_boxes():
    pre = build(mcrm=dict(ratio=1.0, seed=0))
    batch = random_batch(4)
    plain = build()(random_batch(4), True)['inputs']
    out = pre(batch, True)
    for image, reference, sample in zip(out['inputs'], plain,
                                        out['data_samples']):
        name = sample.metainfo['mcrm_modality']
        top, left, h, w = sample.metainfo['mcrm_box']
        channels = slice(0, 3) if name == 'optical' else slice(3, 4)
        inside = torch.zeros(64, 64, dtype=torch.bool)
        inside[top:top + h, left:left + w] = True
        assert (image[channels][:, inside] == 0).all()
        # Everything else is the plain normalised sample.
        keep = torch.ones_like(image, dtype=torch.bool)
        keep[channels, top:top + h, left:left + w] = False
        assert torch.equal(image[keep], reference[keep])


def test_mcrm_only_in_training():
    pre = build(mcrm=dict(ratio=1.0, seed=0))
    plain = build()
    out = pre(random_batch(6), False)
    torch.testing.assert_close(out['inputs'],
                               plain(random_batch(6), False)['inputs'])
    assert all('mcrm_modality' not in s.metainfo
               for s in out['data_samples'])


@pytest.mark.parametrize('batch_size, n_optical, n_dsm', [
    (8, 1, 1), (24, 3, 3), (12, 1, 2), (3, 0, 0), (4, 0, 1)])
def test_mcrm_shares_of_each_modality(batch_size, n_optical, n_dsm):
    pre = build(mcrm=dict(ratio=0.25, seed=0))
    for _ in range(3):
        out = pre(constant_batch(batch_size), True)
        names = [s.metainfo.get('mcrm_modality')
                 for s in out['data_samples']]
        assert names.count('optical') == n_optical
        assert names.count('dsm') == n_dsm


def test_mcrm_keeps_its_seeded_generator_across_batches():
    """Masks of successive batches with seed 0 (former hook's figures)."""
    expected = [
        {2: ('optical', (11, 14, 19, 33)), 3: ('dsm', (13, 28, 17, 27)),
         4: ('optical', (22, 26, 12, 21)), 6: ('dsm', (0, 18, 28, 22))},
        {2: ('optical', (5, 17, 18, 28)), 3: ('optical', (23, 16, 16, 32)),
         5: ('dsm', (21, 4, 16, 25)), 6: ('dsm', (9, 9, 17, 27))}]
    pre = build(mcrm=dict(ratio=0.5, seed=0), size=(40, 56))
    for boxes in expected:
        out = pre(constant_batch(8, size=(40, 56)), True)
        seen = {i: (s.metainfo['mcrm_modality'], s.metainfo['mcrm_box'])
                for i, s in enumerate(out['data_samples'])
                if 'mcrm_box' in s.metainfo}
        assert seen == boxes


def test_mcrm_only_listed_modalities_and_several_blocks():
    pre = build(mcrm=dict(ratio=1.0, num_blocks=3, modalities=['dsm'],
                          seed=0))
    out = pre(constant_batch(4), True)
    for image, sample in zip(out['inputs'], out['data_samples']):
        assert sample.metainfo['mcrm_modality'] == 'dsm'
        boxes = sample.metainfo['mcrm_boxes']
        assert len(boxes) == 3 and len(set(boxes)) == 3
        union = torch.zeros(64, 64, dtype=torch.bool)
        for top, left, h, w in boxes:
            assert 0.1 <= h * w / 64**2 <= 0.3 and 0.5 <= w / h <= 2.0
            union[top:top + h, left:left + w] = True
        assert torch.equal(image[3] == 0, union)
        assert not (image[:3] == 0).any()


def test_rectangle_area_and_aspect_bounds():
    rng = np.random.default_rng(0)
    fractions, aspects = [], []
    for height, width in ((256, 256), (40, 56), (19, 300)):
        for _ in range(300):
            top, left, h, w = sample_rectangle(height, width, (0.1, 0.3),
                                               (0.5, 2.0), rng)
            assert 0 <= top and top + h <= height
            assert 0 <= left and left + w <= width
            fractions.append(h * w / (height * width))
            aspects.append(w / h)
    assert 0.1 <= min(fractions) and max(fractions) <= 0.3
    assert 0.5 <= min(aspects) and max(aspects) <= 2.0
    assert min(fractions) < 0.12 and max(fractions) > 0.28


def test_bad_mcrm_settings_and_inputs():
    for settings, match in ((dict(modalities=['lidar']), 'subset'),
                            (dict(ratio=1.5), 'ratio'),
                            (dict(area_range=(0.3, 0.1)), 'area_range'),
                            (dict(aspect_range=(0, 2)), 'aspect_range'),
                            (dict(num_blocks=0), 'num_blocks')):
        with pytest.raises(ValueError, match=match):
            build(mcrm=settings)
    masking = ModalityConditionalRandomMasking(LAYOUT, ratio=1.0, seed=0)
    with pytest.raises(ValueError, match='4 stacked channels'):
        masking([torch.zeros(3, 8, 8)])


def test_normalisation_matches_mmseg_and_accepts_per_modality_values():
    from mmseg.models import SegDataPreProcessor
    batch = random_batch(3)
    expected = SegDataPreProcessor(mean=MEAN, std=STD, size=(64, 64))(
        random_batch(3), True)['inputs']
    torch.testing.assert_close(build()(batch, True)['inputs'], expected,
                               rtol=0, atol=0)
    per_modality = build(mean=dict(optical=MEAN[:3], dsm=0),
                         std=dict(optical=STD[:3]))
    torch.testing.assert_close(per_modality(random_batch(3), True)['inputs'],
                               expected, rtol=0, atol=0)
    assert per_modality.mean.flatten().tolist() == pytest.approx(MEAN)
    assert per_modality.std.flatten().tolist() == pytest.approx(STD)
    with pytest.raises(ValueError, match='5 values'):
        build(mean=MEAN + [0])
    with pytest.raises(ValueError, match='lidar'):
        build(mean=dict(lidar=0), std=dict(lidar=1))
    with pytest.raises(ValueError, match='both'):
        build(std=None)
    with pytest.raises(ValueError, match='BGR'):
        build(bgr_to_rgb=True)


def test_public_layout_attributes_and_config_dump(tmp_path):
    cfg = Config(dict(pre=dict(type='MultimodalSegDataPreProcessor',
                               modality_channels=LAYOUT, mean=MEAN, std=STD,
                               missing_modalities='dsm')))
    path = str(tmp_path / 'dumped.py')
    cfg.dump(path)
    pre = MODELS.build(Config.fromfile(path).pre)
    assert isinstance(pre, MultimodalSegDataPreProcessor)
    assert list(pre.modality_channels.items()) == LAYOUT
    assert pre.missing_modalities == ['dsm']
    pre.missing_modalities = None
    assert pre.missing_modalities == []
    with pytest.raises(ValueError, match='not among the modalities'):
        pre.missing_modalities = ['lidar']


def test_missing_modality_zeroes_and_inserts_channels():
    full = random_batch(2)
    plain = build()(random_batch(2), False)['inputs']
    without_dsm = build(missing_modalities=['dsm'])
    out = without_dsm(full, False)['inputs']
    assert torch.equal(out[:, :3], plain[:, :3])
    assert (out[:, 3] == 0).all()
    optical_only = random_batch(2)
    optical_only['inputs'] = [x[:3] for x in optical_only['inputs']]
    torch.testing.assert_close(
        without_dsm(optical_only, False)['inputs'], out, rtol=0, atol=0)
    with pytest.raises(ModalityError, match='expects 4'):
        build()(optical_only, False)


# Logit sums of the tiny MoBaNet (torch.manual_seed(0) before building,
# make_batch()) with the former MoBaNetSegmentor.missing_modality, recorded
# when the configs used MMSeg's UPerHead (built below for that reason).
OLD_LOGIT_SUMS = {(): 76864.15625, ('dsm',): 78715.890625,
                  ('optical',): 76310.625}


@pytest.mark.parametrize('missing', list(OLD_LOGIT_SUMS))
def test_missing_modality_logits_match_the_former_switch(missing):
    torch.manual_seed(0)
    cfg = tiny_model_cfg()
    cfg.decode_head.type = 'UPerHead'
    cfg.data_preprocessor.missing_modalities = list(missing)
    model = MODELS.build(cfg).eval()
    with torch.no_grad():
        data = model.data_preprocessor(make_model_batch(), False)
        logits = model(data['inputs'], mode='tensor')
    assert float(logits.sum()) == pytest.approx(OLD_LOGIT_SUMS[missing],
                                                rel=1e-5)
    if not missing:
        return
    if missing == ('dsm',):
        # Optical-only data: the zero DSM is inserted, same logits.
        batch = make_model_batch()
        batch['inputs'] = [x[:3] for x in batch['inputs']]
        with torch.no_grad():
            data = model.data_preprocessor(batch, False)
            torch.testing.assert_close(model(data['inputs'], mode='tensor'),
                                       logits)


def test_missing_modality_from_cfg_options():
    cfg = Config(dict(model=tiny_model_cfg()))
    cfg.merge_from_dict(
        {'model.data_preprocessor.missing_modalities': ['optical']})
    model = MODELS.build(cfg.model)
    assert model.data_preprocessor.missing_modalities == ['optical']
    out = model.data_preprocessor(make_model_batch(1, size=(28, 28)),
                                  False)['inputs']
    assert (out[:, :3] == 0).all() and not (out[:, 3] == 0).all()
