"""Files that are not checkpoints, pickled code, and other models' weights.

The checks of :mod:`m3plugins.engine.checkpoint_checks`, directly and
through :class:`~m3plugins.engine.M3PluginsRunner`, which configs opt into.
"""
import io
import os
import os.path as osp
import subprocess
import sys
import zipfile

import pytest
import torch
from repo_root import REPO_ROOT
from torch import nn

from m3plugins.engine import (
    CheckpointModelMismatchError,
    M3PluginsRunner,
    NotACheckpointError,
    check_state_dict_fits_model,
    load_local_checkpoint,
)

REPO = REPO_ROOT
TORCH_ADVICE = ('weights_only', 'Re-running', 'will likely succeed',
                'trusted source')


class _Net(nn.Module):

    def __init__(self, classes=2):
        super().__init__()
        self.body = nn.Linear(4, 8)
        self.head = nn.Linear(8, classes)


def _random_bytes(path):
    path.write_bytes(torch.randint(0, 256, (2000, ),
                                   generator=torch.Generator().manual_seed(0),
                                   dtype=torch.uint8).numpy().tobytes())


def _pickle_header_then_noise(path):
    # Starts like a legacy torch pickle, so torch's unpickler reads it and
    # fails with its "Weights only load failed ... Re-running" message.
    path.write_bytes(b'\x80\x02' + bytes(range(256)) * 4)


def _text(path):
    path.write_text('epoch 3: loss 0.12\nthis is a log, not weights\n')


def _foreign_zip(path):
    with zipfile.ZipFile(path, 'w') as archive:
        archive.writestr('weights.csv', '1,2,3\n')


def _empty(path):
    path.write_bytes(b'')


def _truncated(path):
    buffer = io.BytesIO()
    torch.save({'state_dict': _Net().state_dict()}, buffer)
    path.write_bytes(buffer.getvalue()[:len(buffer.getvalue()) // 2])


def _bare_tensor(path):
    torch.save(torch.zeros(3), path)


NOT_CHECKPOINTS = {
    'random_bytes': (_random_bytes, 'neither a zip archive'),
    'pickle_header_then_noise': (_pickle_header_then_noise,
                                 'not a weights-only pickle'),
    'text_file': (_text, "starts with b'epoch 3:"),
    'foreign_zip': (_foreign_zip, 'weights.csv'),
    'empty_file': (_empty, 'empty (0 bytes)'),
    'truncated_torch_file': (_truncated, 'truncated or damaged zip'),
    'bare_tensor': (_bare_tensor, 'holds a Tensor'),
}


def _assert_clear_error(error_info, path, reason):
    message = str(error_info.value)
    assert message.startswith(
        f'{path} is not a PyTorch/mmengine checkpoint: ')
    assert reason in message
    for advice in TORCH_ADVICE:
        assert advice not in message
    # Torch's advice does not come back through the exception chain either.
    assert error_info.value.__cause__ is None
    assert error_info.value.__suppress_context__


@pytest.mark.parametrize('kind', sorted(NOT_CHECKPOINTS))
def test_not_a_checkpoint_is_named_with_its_reason(tmp_path, kind):
    write, reason = NOT_CHECKPOINTS[kind]
    path = tmp_path / f'{kind}.pth'
    write(path)
    with pytest.raises(NotACheckpointError) as error_info:
        load_local_checkpoint(str(path))
    _assert_clear_error(error_info, path, reason)


@pytest.mark.slow
def test_not_a_checkpoint_through_runner_load_checkpoint(tmp_path):
    path = tmp_path / 'notes.pth'
    _text(path)
    runner = M3PluginsRunner(model=_toy_model(),
                             work_dir=str(tmp_path / 'work'),
                             default_scope='mmseg')
    with pytest.raises(NotACheckpointError) as error_info:
        runner.load_checkpoint(str(path))
    _assert_clear_error(error_info, path, "starts with b'epoch 3:")


@pytest.mark.slow
def test_runner_refuses_another_models_checkpoint(tmp_path):
    path = tmp_path / 'conv_net.pth'
    other = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4))
    torch.save({'state_dict': other.state_dict()}, path)
    runner = M3PluginsRunner(model=_toy_model(),
                             work_dir=str(tmp_path / 'work'),
                             default_scope='mmseg')
    before = runner.model.net.body.weight.detach().clone()
    with pytest.raises(CheckpointModelMismatchError,
                       match='is a checkpoint of another model'):
        runner.load_checkpoint(str(path))
    assert torch.equal(runner.model.net.body.weight, before)


class _MarkerWriter:
    """Unpickling this would run ``touch <marker>``."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f'touch {self.marker}', ))


def test_pickled_code_is_refused_and_never_run(tmp_path):
    marker = tmp_path / 'pickled_code_ran'
    path = tmp_path / 'malicious.pth'
    torch.save({'state_dict': _Net().state_dict(),
                'meta': _MarkerWriter(marker)}, path)
    with pytest.raises(NotACheckpointError) as error_info:
        load_local_checkpoint(str(path))
    _assert_clear_error(error_info, path, 'never runs code')
    assert 'system' in str(error_info.value)  # names the refused object
    assert not marker.exists()
    # The payload is live: without weights-only loading it would run.
    torch.load(path, weights_only=False)
    assert marker.exists()


def test_checkpoint_of_another_model_names_the_keys(tmp_path):
    path = tmp_path / 'conv_net.pth'
    other = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4))
    torch.save({'state_dict': other.state_dict()}, path)
    with pytest.raises(CheckpointModelMismatchError) as error_info:
        check_state_dict_fits_model(_Net(), load_local_checkpoint(str(path)),
                                    path=str(path))
    message = str(error_info.value)
    assert message.startswith(f'{path} is a checkpoint of another model')
    assert 'only 0 of its 7 tensors fit _Net (which has 4)' in message
    assert 'missing in the checkpoint: body.weight' in message
    assert 'not in the model: 0.weight' in message


@pytest.mark.slow
def test_checkpoint_mostly_fitting_still_loads(tmp_path):
    """A checkpoint with another head size loads, with mmengine's warning.

    2 of 4 tensors differ: the body is loaded, the checkpoint is not
    refused.
    """
    path = tmp_path / 'five_classes.pth'
    source = _Net(classes=5)
    torch.save({'state_dict': {f'net.{k}': v for k, v in
                               source.state_dict().items()}}, path)
    runner = M3PluginsRunner(model=_toy_model(),
                             work_dir=str(tmp_path / 'work'),
                             default_scope='mmseg')
    runner.load_checkpoint(str(path))
    assert torch.equal(runner.model.net.body.weight, source.body.weight)


def test_mismatch_names_shape_differences(tmp_path):
    state = {k: torch.zeros(1, *v.shape) for k, v in
             _Net().state_dict().items()}
    with pytest.raises(CheckpointModelMismatchError,
                       match=r'shape differs \(checkpoint vs model\): '
                       r'body.weight \(1, 8, 4\) vs \(8, 4\)'):
        check_state_dict_fits_model(_Net(), state, path='given.pth')


def _toy_model():
    from mmengine.model import BaseModel

    class ToyModel(BaseModel):

        def __init__(self):
            super().__init__()
            self.net = _Net()

        def forward(self, inputs, data_samples=None, mode='tensor'):
            return self.net.head(self.net.body(inputs))

    return ToyModel()


@pytest.mark.slow
@pytest.mark.parametrize('kind', ['text_file', 'other_model'])
def test_tools_test_reports_bad_checkpoint(tmp_path, kind):
    """``tools/test.py CONFIG CKPT`` ends with the reason and status 2."""
    from m3plugins.demo import prepare_demo_data
    prepare_demo_data('houston2013', str(tmp_path / 'data' / 'm3plugins_demo'))
    path = tmp_path / f'{kind}.pth'
    if kind == 'text_file':
        _text(path)
        expected = f'{path} is not a PyTorch/mmengine checkpoint'
    else:
        torch.save({'state_dict': _Net().state_dict()}, path)
        expected = f'{path} is a checkpoint of another model'
    config = osp.join(REPO, 'configs', 'spectralmamba',
                      'spectralmamba_demo.py')
    out = subprocess.run(
        [sys.executable, osp.join(REPO, 'tools', 'test.py'), config,
         str(path), '--work-dir', str(tmp_path / 'work')],
        cwd=tmp_path, capture_output=True, text=True, timeout=600,
        env=dict(os.environ, PYTHONWARNINGS='ignore'))
    assert out.returncode == 2, out.stderr[-3000:]
    assert expected in out.stderr
    assert 'Traceback' not in out.stderr
    for advice in TORCH_ADVICE:
        assert advice not in out.stderr
    if kind == 'other_model':
        assert 'missing in the checkpoint: ' in out.stderr
        assert 'not in the model: body.weight' in out.stderr
