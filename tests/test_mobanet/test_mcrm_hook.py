"""ModalityConditionalRandomMaskingHook: fractions, rectangles, train only."""
import numpy as np
import pytest
import torch
from mmseg.models import SegDataPreProcessor  # noqa: E402
from mmseg.registry import HOOKS  # noqa: E402
from mmseg.structures import SegDataSample  # noqa: E402

import m3plugins  # noqa: F401  (before mmseg.models: mmcv-lite compat)
from m3plugins.engine.modality_conditional_random_masking_hook import (
    sample_rectangle,
)

MEAN = [123.675, 116.28, 103.53, 0.0]


class _Runner:
    """The parts of mmengine's Runner the hook reads."""

    def __init__(self):
        self.model = torch.nn.Module()
        self.model.data_preprocessor = SegDataPreProcessor(
            mean=MEAN, std=[58.395, 57.12, 57.375, 1.0], size=(64, 64))


def make_hook(**kwargs):
    kwargs.setdefault('seed', 0)
    return HOOKS.build(dict(type='ModalityConditionalRandomMaskingHook',
                            modality_channels=dict(optical=3, dsm=1),
                            **kwargs))


def make_batch(batch_size=8, size=(64, 64), value=7):
    return dict(
        inputs=[torch.full((4, *size), value, dtype=torch.uint8)
                for _ in range(batch_size)],
        data_samples=[SegDataSample() for _ in range(batch_size)])


def changed_modalities(image, value=7):
    changed = (image != value).flatten(1).any(dim=1)
    names = []
    if changed[:3].any():
        names.append('optical')
    if changed[3]:
        names.append('dsm')
    return names


@pytest.mark.parametrize('batch_size, n_optical, n_dsm', [
    (8, 1, 1), (24, 3, 3), (12, 1, 2), (3, 0, 0), (4, 0, 1)])
def test_exact_fractions_one_modality_each(batch_size, n_optical, n_dsm):
    hook = make_hook(ratio=0.25)
    for it in range(5):
        batch = make_batch(batch_size)
        hook.before_train_iter(_Runner(), it, batch)
        touched = [changed_modalities(x) for x in batch['inputs']]
        assert sum(t == ['optical'] for t in touched) == n_optical
        assert sum(t == ['dsm'] for t in touched) == n_dsm
        assert all(len(t) <= 1 for t in touched)  # never both
        for image, sample, names in zip(batch['inputs'],
                                        batch['data_samples'], touched):
            assert sample.metainfo.get('mcrm_modality') == \
                (names[0] if names else None)


def test_masked_rectangle_is_zero_after_normalisation():
    runner = _Runner()
    hook = make_hook(ratio=1.0)
    batch = make_batch(4)
    hook.before_train_iter(runner, 0, batch)
    data = runner.model.data_preprocessor(batch, True)
    for image, sample in zip(data['inputs'], data['data_samples']):
        name = sample.metainfo['mcrm_modality']
        top, left, h, w = sample.metainfo['mcrm_box']
        channels = slice(0, 3) if name == 'optical' else slice(3, 4)
        region = image[channels, top:top + h, left:left + w]
        assert torch.equal(region, torch.zeros_like(region))
        outside = image[channels].clone()
        outside[:, top:top + h, left:left + w] = float('nan')
        assert not (outside == 0).any()
        # The rectangle really is the only change.
        assert int((image[channels] == 0).sum()) == region.numel()


def test_fill_value_in_raw_units():
    hook = make_hook(ratio=1.0, fill_value=-1.0)
    batch = make_batch(2)
    hook.before_train_iter(_Runner(), 0, batch)
    for image, sample in zip(batch['inputs'], batch['data_samples']):
        top, left, h, w = sample.metainfo['mcrm_box']
        assert image.dtype == torch.float32
        assert (image[:, top:top + h, left:left + w] == -1).any()


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
    # The whole range is used, not one corner of it.
    assert min(fractions) < 0.12 and max(fractions) > 0.28


def test_nothing_masked_in_validation_and_test():
    hook = make_hook(ratio=1.0)
    runner = _Runner()
    for method in ('before_val_iter', 'before_test_iter'):
        batch = make_batch(8)
        getattr(hook, method)(runner, 0, batch)
        assert all(changed_modalities(x) == [] for x in batch['inputs'])
        assert all('mcrm_modality' not in s.metainfo
                   for s in batch['data_samples'])


def test_bad_arguments_and_input():
    with pytest.raises(ValueError, match='subset'):
        make_hook(modalities=['lidar'])
    with pytest.raises(ValueError, match='ratio'):
        make_hook(ratio=1.5)
    with pytest.raises(ValueError, match='area_range'):
        make_hook(area_range=(0.3, 0.1))
    with pytest.raises(ValueError, match='aspect_range'):
        make_hook(aspect_range=(0, 2))
    batch = make_batch(4)
    batch['inputs'] = [torch.zeros(3, 8, 8) for _ in range(4)]
    with pytest.raises(ValueError, match='4 stacked channels'):
        make_hook().before_train_iter(_Runner(), 0, batch)


def test_only_listed_modalities_are_masked():
    hook = make_hook(ratio=0.5, modalities=['dsm'])
    batch = make_batch(8)
    hook.before_train_iter(_Runner(), 0, batch)
    touched = [changed_modalities(x) for x in batch['inputs']]
    assert sum(t == ['dsm'] for t in touched) == 4
    assert not any('optical' in t for t in touched)


def test_one_block_keeps_the_masks_of_a_fixed_seed():
    """num_blocks=1 (the default) draws exactly what the one-rectangle
    hook drew with seed 0 (values recorded before num_blocks existed).
    """
    expected = [
        ({2: ('optical', (11, 14, 19, 33)), 3: ('dsm', (13, 28, 17, 27)),
          4: ('optical', (22, 26, 12, 21)), 6: ('dsm', (0, 18, 28, 22))},
         3712),
        ({2: ('optical', (5, 17, 18, 28)), 3: ('optical', (23, 16, 16, 32)),
          5: ('dsm', (21, 4, 16, 25)), 6: ('dsm', (9, 9, 17, 27))}, 3907)]
    for hook in (make_hook(ratio=0.5), make_hook(ratio=0.5, num_blocks=1)):
        for it, (boxes, changed) in enumerate(expected):
            batch = make_batch(8, size=(40, 56))
            hook.before_train_iter(_Runner(), it, batch)
            seen = {i: (s.metainfo['mcrm_modality'], s.metainfo['mcrm_box'])
                    for i, s in enumerate(batch['data_samples'])
                    if 'mcrm_box' in s.metainfo}
            assert seen == boxes
            assert all(s.metainfo['mcrm_boxes'] == (s.metainfo['mcrm_box'], )
                       for s in batch['data_samples'] if 'mcrm_box' in
                       s.metainfo)
            assert int(sum((x != 7).sum() for x in batch['inputs'])) == \
                changed


def test_several_blocks_per_masked_sample():
    hook = make_hook(ratio=1.0, num_blocks=3, fill_value=0)
    batch = make_batch(4, size=(64, 64))
    hook.before_train_iter(_Runner(), 0, batch)
    for image, sample in zip(batch['inputs'], batch['data_samples']):
        name = sample.metainfo['mcrm_modality']
        boxes = sample.metainfo['mcrm_boxes']
        assert len(boxes) == 3 and sample.metainfo['mcrm_box'] == boxes[0]
        assert len(set(boxes)) == 3  # three independent draws
        channels = slice(0, 3) if name == 'optical' else slice(3, 4)
        expected = torch.zeros(64, 64, dtype=torch.bool)
        for top, left, h, w in boxes:
            fraction = h * w / 64**2
            assert 0.1 <= fraction <= 0.3 and 0.5 <= w / h <= 2.0
            expected[top:top + h, left:left + w] = True
        # Exactly the union of the rectangles is filled, in one modality.
        assert torch.equal(image[channels] == 0,
                           expected.expand(image[channels].shape))
        other = slice(3, 4) if name == 'optical' else slice(0, 3)
        assert (image[other] == 7).all()
    with pytest.raises(ValueError, match='num_blocks'):
        make_hook(num_blocks=0)
