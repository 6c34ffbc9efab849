"""ModalityMaskingHook: MCRM for configs with MMSeg's SegDataPreProcessor.

The hook masks the raw batch with the normalisation mean; after MMSeg's
preprocessor the rectangles hold 0, and with the same seed the batch equals
what MultimodalSegDataPreProcessor(mcrm=...) makes of it.
"""
import copy
from types import SimpleNamespace

import pytest
import torch
from mmengine.model import BaseModel
from mmengine.structures import PixelData
from mmseg.models.data_preprocessor import SegDataPreProcessor
from mmseg.structures import SegDataSample
from torch.utils.data import Dataset

from m3plugins.engine import M3PluginsRunner, ModalityMaskingHook
from m3plugins.models.data_preprocessors import MultimodalSegDataPreProcessor

LAYOUT = [('optical', 3), ('dsm', 1)]
MEAN = [123.675, 116.28, 103.53, 0.5]
STD = [58.395, 57.12, 57.375, 0.25]
SIZE = (24, 20)
MCRM = dict(ratio=0.5, area_range=(0.1, 0.3), seed=7)


def _sample(index, size=SIZE):
    generator = torch.Generator().manual_seed(index)
    optical = torch.randint(0, 256, (3, *size), generator=generator,
                            dtype=torch.uint8)
    dsm = torch.rand(1, *size, generator=generator)
    data_sample = SegDataSample(metainfo=dict(img_shape=size,
                                              ori_shape=size))
    data_sample.gt_sem_seg = PixelData(data=torch.zeros(1, *size).long())
    return torch.cat([optical.float(), dsm]), data_sample


def _batch(size=8):
    inputs, samples = zip(*[_sample(i) for i in range(size)])
    return dict(inputs=list(inputs), data_samples=list(samples))


def _mmseg_preprocessor():
    return SegDataPreProcessor(mean=MEAN, std=STD, bgr_to_rgb=False,
                               size=SIZE)


def test_hook_masks_as_the_preprocessor_does_on_the_same_seed():
    hook = ModalityMaskingHook(modality_channels=LAYOUT, **MCRM)
    mmseg = _mmseg_preprocessor()
    runner = SimpleNamespace(model=SimpleNamespace(data_preprocessor=mmseg))
    reference = MultimodalSegDataPreProcessor(
        modality_channels=LAYOUT, mean=MEAN, std=STD, mcrm=dict(MCRM),
        size=SIZE)
    for step in range(3):  # the seeded generators advance alike
        batch, same = _batch(), _batch()
        hook.before_train_iter(runner, step, batch)
        ours = mmseg(batch, True)
        theirs = reference(same, True)
        torch.testing.assert_close(ours['inputs'], theirs['inputs'])
        masked = [(s.metainfo.get('mcrm_modality'), s.metainfo.get(
            'mcrm_boxes')) for s in ours['data_samples']]
        expected = [(s.metainfo.get('mcrm_modality'), s.metainfo.get(
            'mcrm_boxes')) for s in theirs['data_samples']]
        assert masked == expected
        assert sum(name is not None for name, _ in masked) == 4
    # Inside a rectangle the normalised input is exactly 0.
    name, boxes = next(m for m in masked if m[0] is not None)
    index = masked.index((name, boxes))
    top, left, height, width = boxes[0]
    channels = slice(0, 3) if name == 'optical' else slice(3, 4)
    assert (ours['inputs'][index, channels, top:top + height,
                           left:left + width] == 0).all()


def test_hook_takes_the_layout_from_the_model_and_refuses_swaps():
    model = SimpleNamespace(data_preprocessor=MultimodalSegDataPreProcessor(
        modality_channels=LAYOUT, mean=MEAN, std=STD, size=SIZE))
    hook = ModalityMaskingHook(**MCRM)
    hook.before_train_iter(SimpleNamespace(model=model), 0, _batch())
    assert list(hook.masking.modality_channels) == ['optical', 'dsm']
    swapping = SimpleNamespace(data_preprocessor=SegDataPreProcessor(
        mean=MEAN[:3], std=STD[:3], bgr_to_rgb=True))
    with pytest.raises(ValueError, match='swaps channels'):
        ModalityMaskingHook(modality_channels=[('optical', 3)]) \
            .before_train_iter(SimpleNamespace(model=swapping), 0,
                               dict(inputs=[torch.zeros(3, 8, 8)]))
    with pytest.raises(ValueError, match='needs the modality layout'):
        ModalityMaskingHook().before_train_iter(
            SimpleNamespace(model=SimpleNamespace(
                data_preprocessor=_mmseg_preprocessor())), 0, _batch())


class _Recorder(BaseModel):
    """Records the preprocessed inputs of each training step."""

    def __init__(self, data_preprocessor):
        super().__init__(data_preprocessor=data_preprocessor)
        self.weight = torch.nn.Parameter(torch.zeros(1))
        self.seen = []

    def forward(self, inputs, data_samples=None, mode='tensor'):
        self.seen.append(inputs.detach().clone())
        return dict(loss=(self.weight * inputs.mean()).sum())


class _Samples(Dataset):

    def __len__(self):
        return 8

    def __getitem__(self, index):
        image, sample = _sample(index)
        return dict(inputs=image, data_samples=sample)


@pytest.mark.slow
def test_an_mmseg_config_trains_with_the_hook(tmp_path):
    runner = M3PluginsRunner(
        model=_Recorder(_mmseg_preprocessor()),
        work_dir=str(tmp_path),
        train_dataloader=dict(
            dataset=_Samples(), batch_size=4,
            sampler=dict(type='DefaultSampler', shuffle=False),
            collate_fn=dict(type='pseudo_collate')),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.1)),
        train_cfg=dict(by_epoch=False, max_iters=2),
        custom_hooks=[dict(type='ModalityMaskingHook',
                           modality_channels=LAYOUT, **MCRM)],
        default_scope='mmseg')
    runner.train()
    reference = MultimodalSegDataPreProcessor(
        modality_channels=LAYOUT, mean=MEAN, std=STD, mcrm=dict(MCRM),
        size=SIZE)
    data = _Samples()
    for step, seen in enumerate(runner.model.seen):
        items = [data[i] for i in range(4 * step, 4 * step + 4)]
        batch = dict(inputs=[copy.deepcopy(i['inputs']) for i in items],
                     data_samples=[i['data_samples'] for i in items])
        expected = reference(batch, True)['inputs']
        torch.testing.assert_close(seen, expected)
        assert (seen == 0).sum() > 0
