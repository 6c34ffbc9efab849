"""The modality layout has one home, the data preprocessor, and one rule."""
import pytest
import torch
from mmengine.config import Config
from mmengine.model import BaseDataPreprocessor

from m3plugins.models.layout import (
    config_missing_modalities,
    config_modality_channels,
    layout_for_segmentor,
    model_missing_modalities,
    model_modality_channels,
    with_part_value,
)

LAYOUT = [('optical', 3), ('dsm', 1)]


def test_configs_are_read_in_the_data_preprocessor_only():
    model = dict(type='X', data_preprocessor=dict(
        type='MultimodalSegDataPreProcessor', modality_channels=LAYOUT,
        missing_modalities=['dsm']))
    assert list(config_modality_channels(model).items()) == LAYOUT
    assert config_missing_modalities(model) == ('dsm', )
    # The segmentor's and the backbone's are not looked at.
    elsewhere = dict(type='X', modality_channels=LAYOUT,
                     backbone=dict(modality_channels=LAYOUT),
                     data_preprocessor=dict(type='SegDataPreProcessor'))
    assert config_modality_channels(elsewhere) is None
    assert config_missing_modalities(elsewhere) == ()
    assert config_modality_channels(None) is None


def test_built_models_are_read_in_their_data_preprocessor_only():
    model = torch.nn.Module()
    model.backbone = torch.nn.Module()
    model.backbone.modality_channels = dict(LAYOUT)
    model.data_preprocessor = BaseDataPreprocessor()
    assert model_modality_channels(model) is None
    model.data_preprocessor.modality_channels = LAYOUT
    model.data_preprocessor.missing_modalities = 'dsm'
    assert list(model_modality_channels(model).items()) == LAYOUT
    assert model_missing_modalities(model) == ('dsm', )


def test_segmentors_need_the_layout_and_say_where():
    with pytest.raises(ValueError, match=r'M3amba needs the modality layout'
                       r'.*data_preprocessor=dict\('):
        layout_for_segmentor(dict(type='SegDataPreProcessor'), 'M3amba')
    assert layout_for_segmentor(None, 'X', required=False) is None
    assert list(layout_for_segmentor(
        dict(modality_channels=LAYOUT), 'X')) == ['optical', 'dsm']


def test_parts_get_the_layout_and_disagreement_names_both():
    layout = layout_for_segmentor(dict(modality_channels=LAYOUT), 'X')
    part = with_part_value(dict(type='B'), 'modality_channels', layout,
                           'backbone')
    assert list(part['modality_channels'].items()) == LAYOUT
    agreeing = with_part_value(dict(type='B', modality_channels=LAYOUT),
                               'modality_channels', layout, 'backbone')
    assert list(agreeing['modality_channels']) == ['optical', 'dsm']
    with pytest.raises(ValueError, match=r"backbone.modality_channels is "
                       r"\[\('optical', 4\)\].*optical=3, dsm=1"):
        with_part_value(dict(modality_channels=[('optical', 4)]),
                        'modality_channels', layout, 'backbone')


@pytest.mark.parametrize('config, layout', [
    ('configs/mobanet/mobanet_demo.py', [('optical', 3), ('dsm', 1)]),
    ('configs/m3amba/m3amba_muufl.py', [('hsi', 64), ('lidar', 2)]),
    ('configs/spectralmamba/spectralmamba_ksc.py', [('hsi', 176)]),
])
def test_every_shipped_config_declares_it_once(repo_root, config, layout):
    cfg = Config.fromfile(f'{repo_root}/{config}')
    assert list(config_modality_channels(cfg.model).items()) == layout
    for part in ('backbone', 'neck', 'decode_head'):
        assert 'modality_channels' not in (cfg.model.get(part) or {})
    assert 'modality_channels' not in cfg.model
