"""The host-stack fixes that ``import m3plugins`` applies.

* mmcv-lite: MMSeg imports, the pure-PyTorch op works, compiled ops fail
  with a clear error only when called.
* torch >= 2.6 weights-only loading: mmengine checkpoints load for resume,
  ``load_from`` and ``init_model`` without switching weights-only off.
"""
import os.path as osp
import pickle
import subprocess
import sys

import pytest
import torch
from torch import nn

import m3plugins  # noqa: F401
from m3plugins.compat import (
    MissingCompiledOpError,
    history_buffer_getattr,
    mmcv_has_compiled_ops,
)

lite_only = pytest.mark.skipif(
    mmcv_has_compiled_ops(), reason='full mmcv installed: no stand-in needed')


@pytest.mark.slow
@lite_only
def test_mmseg_imports_on_mmcv_lite_in_fresh_interpreter():
    code = ('import m3plugins, mmseg.models, mmseg.utils.mask_classification;'
            'from mmseg.models.decode_heads import san_head;'
            'import mmcv.ops; print(mmcv.ops.__m3plugins_fallback__)')
    out = subprocess.run([sys.executable, '-c', code],
                         capture_output=True, text=True, check=True)
    assert out.stdout.strip() == 'True'


@pytest.mark.slow
def test_mmseg_fails_without_the_fix_on_mmcv_lite():
    """Guards the premise: without m3plugins, mmseg.models cannot import."""
    if mmcv_has_compiled_ops():
        pytest.skip('full mmcv installed')
    out = subprocess.run([sys.executable, '-c', 'import mmseg.models'],
                         capture_output=True, text=True)
    assert out.returncode != 0 and 'mmcv._ext' in out.stderr


@lite_only
def test_point_sample_is_the_real_pure_pytorch_op():
    from mmcv.ops import point_sample
    feature = torch.arange(16.).view(1, 1, 4, 4)
    # Normalised [0, 1] coordinates of pixel centres (x, y).
    points = torch.tensor([[[0.125, 0.125], [0.875, 0.375]]])
    sampled = point_sample(feature, points, align_corners=False)
    assert sampled.shape == (1, 1, 2)
    assert torch.allclose(sampled.flatten(), torch.tensor([0., 7.]))


@lite_only
def test_compiled_op_raises_clear_error_when_called():
    import mmcv.ops
    from mmseg.models.losses import FocalLoss
    with pytest.raises(MissingCompiledOpError, match='sigmoid_focal_loss'):
        mmcv.ops.sigmoid_focal_loss(torch.zeros(1), torch.zeros(1))
    with pytest.raises(MissingCompiledOpError, match='full mmcv'):
        mmcv.ops.DeformConv2d(3, 3, 3)
    assert FocalLoss is not None  # importing the module itself works
    with pytest.raises(AttributeError):
        mmcv.ops.__wrapped__


def test_restricted_getattr_only_resolves_history_buffer_statistics():
    from mmengine.logging import HistoryBuffer
    assert history_buffer_getattr(HistoryBuffer, 'mean') is HistoryBuffer.mean
    with pytest.raises(pickle.UnpicklingError):
        history_buffer_getattr(HistoryBuffer, '__init__')
    with pytest.raises(pickle.UnpicklingError):
        history_buffer_getattr(osp, 'join')


class _Regressor(nn.Module):

    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(2, 1)


def _toy_runner(work_dir, max_iters, **kwargs):
    from mmengine.model import BaseModel
    from mmengine.runner import Runner
    from torch.utils.data import Dataset

    class Model(BaseModel):

        def __init__(self):
            super().__init__()
            self.net = _Regressor()

        def forward(self, inputs, labels=None, mode='tensor'):
            out = self.net.linear(torch.stack(inputs)).squeeze(-1)
            if mode == 'loss':
                return dict(loss=((out - torch.stack(labels))**2).mean())
            return out

    class Data(Dataset):

        def __len__(self):
            return 8

        def __getitem__(self, i):
            g = torch.Generator().manual_seed(i)
            return dict(inputs=torch.randn(2, generator=g),
                        labels=torch.tensor(float(i % 2)))

    return Runner(
        model=Model(),
        work_dir=str(work_dir),
        train_dataloader=dict(
            dataset=Data(),
            batch_size=4,
            sampler=dict(type='DefaultSampler', shuffle=False)),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.1)),
        train_cfg=dict(by_epoch=False, max_iters=max_iters),
        default_hooks=dict(
            checkpoint=dict(type='CheckpointHook', interval=2,
                            by_epoch=False)),
        default_scope='mmseg',
        **kwargs)


@pytest.mark.slow
def test_mmengine_checkpoint_loads_weights_only(tmp_path):
    _toy_runner(tmp_path, 2).train()
    ckpt = torch.load(tmp_path / 'iter_2.pth')  # torch's default: weights-only
    assert 'message_hub' in ckpt and ckpt['meta']['iter'] == 2
    lr_buffer = ckpt['message_hub']['log_scalars']['train/lr']
    assert lr_buffer.mean() == pytest.approx(0.1)


@pytest.mark.slow
def test_resume_and_load_from(tmp_path):
    _toy_runner(tmp_path, 2).train()
    resumed = _toy_runner(tmp_path, 4, resume=True)
    resumed.train()
    assert resumed.iter == 4 and osp.exists(tmp_path / 'iter_4.pth')

    loaded = _toy_runner(tmp_path / 'again', 1,
                         load_from=str(tmp_path / 'iter_4.pth'))
    loaded.load_or_resume()
    expected = torch.load(tmp_path / 'iter_4.pth')['state_dict']
    assert torch.equal(loaded.model.net.linear.weight,
                       expected['net.linear.weight'])


@pytest.mark.slow
def test_mmseg_init_model_reads_runner_checkpoint(tmp_path):
    from mmengine.config import Config
    from mmseg.apis import init_model
    _toy_runner(tmp_path, 2).train()
    cfg = Config(dict(
        default_scope='mmseg',
        model=dict(
            type='EncoderDecoder',
            data_preprocessor=dict(type='SegDataPreProcessor'),
            backbone=dict(type='MixVisionTransformer', in_channels=3,
                          embed_dims=8, num_stages=1, num_layers=[1],
                          num_heads=[1], patch_sizes=[7], strides=[4],
                          sr_ratios=[1], out_indices=(0, )),
            decode_head=dict(type='FCNHead', in_channels=8, channels=8,
                             num_convs=0, concat_input=False, num_classes=2),
            test_cfg=dict(mode='whole'))))
    reference = init_model(cfg, device='cpu')
    # A Runner checkpoint (HistoryBuffers, numpy) carrying this model's
    # weights, re-saved the way mmengine saves it.
    ckpt = torch.load(tmp_path / 'iter_2.pth')
    ckpt['state_dict'] = {
        k: torch.full_like(v, 0.5) if v.is_floating_point() else v
        for k, v in reference.state_dict().items()
    }
    torch.save(ckpt, tmp_path / 'mmseg.pth')
    model = init_model(cfg, str(tmp_path / 'mmseg.pth'), device='cpu')
    head_weight = model.decode_head.conv_seg.weight
    assert torch.all(head_weight == 0.5)


@pytest.mark.slow
def test_fallback_does_nothing_when_mmcv_has_compiled_ops(repo_root):
    """With full mmcv the ``mmcv.ops`` stand-in is never installed.

    Full mmcv is simulated (an ``mmcv._ext`` module exists); ``mmcv.ops`` is
    left to mmcv.
    """
    module_file = osp.join(repo_root, 'm3plugins', 'compat', 'mmcv_ops.py')
    code = f'''
import importlib.util, sys, types
fake_ext = types.ModuleType("mmcv._ext")
fake_ext.__spec__ = importlib.util.spec_from_loader("mmcv._ext", loader=None)
sys.modules["mmcv._ext"] = fake_ext
spec = importlib.util.spec_from_file_location("probe", {module_file!r})
probe = importlib.util.module_from_spec(spec); spec.loader.exec_module(probe)
print(probe.mmcv_has_compiled_ops(), probe.install_mmcv_ops_fallback(),
      "mmcv.ops" in sys.modules)
'''
    out = subprocess.run([sys.executable, '-c', code],
                         capture_output=True, text=True, check=True)
    assert out.stdout.split() == ['True', 'False', 'False']
