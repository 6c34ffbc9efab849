"""``tools/train.py --amp [--amp-dtype bfloat16]`` switches the optimizer."""
import pytest
from mmengine.config import Config

from m3plugins.apis.cli import enable_amp


def optim_config(**wrapper):
    return Config(dict(optim_wrapper=dict(
        type='OptimWrapper', optimizer=dict(type='AdamW', lr=1e-3),
        **wrapper)))


@pytest.mark.parametrize('dtype', ['float16', 'bfloat16'])
def test_amp_uses_mmengine_amp_wrapper_with_the_dtype(dtype):
    cfg = optim_config()
    enable_amp(cfg, dtype)
    assert cfg.optim_wrapper.type == 'AmpOptimWrapper'
    assert cfg.optim_wrapper.dtype == dtype
    assert cfg.optim_wrapper.loss_scale == 'dynamic'
    assert cfg.optim_wrapper.optimizer.lr == 1e-3


def test_amp_refuses_unknown_dtypes_and_wrappers():
    with pytest.raises(ValueError, match="'float16' or 'bfloat16'"):
        enable_amp(optim_config(), 'float8')
    cfg = Config(dict(optim_wrapper=dict(type='OptimWrapperDict')))
    with pytest.raises(ValueError, match='OptimWrapperDict'):
        enable_amp(cfg)
