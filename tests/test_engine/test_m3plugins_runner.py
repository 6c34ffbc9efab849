"""M3PluginsRunner: what it does before mmengine's runner is built."""
from mmengine.config import Config
from user_error import raises_user_error

from m3plugins.engine import M3PluginsRunner
from m3plugins.models.foundation.weight_files import (
    PretrainedWeightsUnavailableError,
)


def test_missing_tower_weights_end_the_run_before_anything_is_built(
        tmp_path):
    missing = tmp_path / 'dinov2_vitl14_pretrain.pth'
    cfg = Config(dict(
        work_dir=str(tmp_path / 'work'),
        model=dict(type='MoBaNetSegmentor', backbone=dict(
            type='MoBaNetBackbone', foundation_model=dict(
                source='timm', name='vit_large_patch14_dinov2',
                pretrained=str(missing))))))
    with raises_user_error(PretrainedWeightsUnavailableError,
                           str(missing)):
        M3PluginsRunner.from_cfg(cfg)
    assert not (tmp_path / 'work').exists()  # nothing was built
