"""Helpers of the large-scene inference tests: a per-pixel probe model.

The georeferenced rasters it reads are written by
:mod:`fake_data.isprs_tiles` (``make_scene``, ``write_scene_raster``).

The probe model is an MMSeg ``EncoderDecoder`` whose backbone is a stack of
1x1 convolutions and whose head is MMSeg's ``FCNHead`` with ``num_convs=0``
and a 1x1 classifier: every output pixel depends on that pixel's input only.
Its tile logits therefore equal the whole-image logits at every pixel, which
is the condition under which blended tiled inference must reproduce one
whole-image forward (see :mod:`m3plugins.apis.tile_blending`).
"""
from mmengine.model import BaseModule
from mmseg.registry import MODELS
from torch import nn

import m3plugins  # noqa: F401
from m3plugins.utils.modalities import split_modalities

PROBE_BACKBONE = 'LargeSceneInferenceProbeBackbone'


class LargeSceneInferenceProbeBackbone(BaseModule):
    """Per-pixel backbone of the tests: 1x1 conv, ReLU, 1x1 conv.

    Args:
        modality_channels: Ordered modality -> channels of the input stack.
        channels: Output channels.

    Shapes: (B, sum C, H, W) -> [(B, channels, H, W)].
    """

    def __init__(self, modality_channels, channels=8, init_cfg=None):
        super().__init__(init_cfg)
        self.modality_channels = dict(modality_channels)
        in_channels = sum(self.modality_channels.values())
        self.layers = nn.Sequential(
            nn.Conv2d(in_channels, channels, 1), nn.ReLU(),
            nn.Conv2d(channels, channels, 1))

    def forward(self, x):
        split_modalities(x, self.modality_channels)
        return [self.layers(x)]


if MODELS.get(PROBE_BACKBONE) is None:
    MODELS.register_module(PROBE_BACKBONE,
                           module=LargeSceneInferenceProbeBackbone)


#: The test dataset of the probe config: the package's ISPRS Potsdam dataset,
#: whose contract is raw optical bands + DSM min-max over the tile.
ISPRS_TEST_DATASET = dict(type='ISPRSPotsdamDataset', data_root='unused',
                          split='test')


def probe_config_dict(num_classes=6, dataset=ISPRS_TEST_DATASET,
                      modality_channels=None):
    """Config of the probe model.

    ``dataset=None`` leaves out the test dataloader.
    """
    from mmengine.config import Config
    modality_channels = modality_channels or dict(optical=3, dsm=1)
    total = sum(dict(modality_channels).values())
    loaders = {} if dataset is None else dict(
        test_dataloader=dict(batch_size=1, dataset=dict(dataset)))
    return Config(
        dict(
            default_scope='mmseg',
            model=dict(
                type='EncoderDecoder',
                # The layout's one home; the probe backbone (not one of the
                # package's segmentors, which pass it on) repeats it.
                data_preprocessor=dict(
                    type='MultimodalSegDataPreProcessor',
                    modality_channels=modality_channels,
                    mean=[100.0] * (total - 1) + [0.5],
                    std=[50.0] * (total - 1) + [0.25],
                    pad_val=0,
                    seg_pad_val=255),
                backbone=dict(
                    type=PROBE_BACKBONE,
                    modality_channels=modality_channels,
                    channels=8),
                decode_head=dict(
                    type='FCNHead',
                    in_channels=8,
                    channels=8,
                    num_convs=0,
                    concat_input=False,
                    kernel_size=1,
                    dropout_ratio=0.0,
                    num_classes=num_classes,
                    norm_cfg=None,
                    align_corners=False),
                test_cfg=dict(mode='whole')),
            **loaders))


def write_config_file(cfg, path):
    """Write a Config as a Python config file, keeping dict order.

    Unlike ``Config.dump``, which sorts keys.
    """
    lines = [f'{key} = {value!r}' for key, value in cfg.to_dict().items()]
    path.write_text('\n'.join(lines) + '\n')
    return str(path)


def potsdam_contract():
    """The data contract of the package's ISPRS Potsdam tiles.

    Raw optical bands, the DSM min-max scaled per tile with no-data filled
    and one row / column of edge padding: what a checkpoint trained on
    ``ISPRSPotsdamDataset`` carries.
    """
    from m3plugins.datasets.isprs.potsdam import ISPRSPotsdam
    return ISPRSPotsdam.declared_contract()


def hsi_contract(layout, scene='Houston2013'):
    """The contract of a hyperspectral scene with ``layout``'s bands."""
    from mmseg.registry import DATASETS  # noqa: F401  (registers scenes)

    from m3plugins.datasets.hsi import Houston2013
    from m3plugins.demo.hsi_demo_scene import HSIDemoScene
    scene_class = dict(Houston2013=Houston2013,
                       HSIDemoScene=HSIDemoScene)[scene]
    layout = dict(layout)
    return scene_class.declared_contract(tuple(layout), 'minmax', layout)


def trained_on(model, contract):
    """``model`` as if loaded from a checkpoint trained on ``contract``."""
    model.dataset_meta = contract.to_metainfo()
    return model
