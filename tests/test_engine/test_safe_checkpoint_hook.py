"""SafeCheckpointHook's rotation and M3PluginsRunner's resume.

Failures are injected at each step of a save (the checkpoint write, its
rename, the ``last_checkpoint`` write, the removal of the oldest file); after
each, the newest complete checkpoint is on disk and ``last_checkpoint``
names a complete file, and ``--resume`` continues from it.
"""
import os
import os.path as osp

import pytest
import torch
from mmengine.model import BaseModel
from torch.utils.data import Dataset
from user_error import raises_user_error

from m3plugins.engine import (
    M3PluginsRunner,
    NotACheckpointError,
    load_local_checkpoint,
)
from m3plugins.engine.m3plugins_runner import resume_candidates
from m3plugins.utils import atomic_write
from m3plugins.utils.atomic_write import is_atomic_write_temp


class _Regressor(BaseModel):

    def __init__(self):
        super().__init__()
        self.linear = torch.nn.Linear(2, 1)

    def forward(self, inputs, labels=None, mode='tensor'):
        out = self.linear(torch.stack(inputs)).squeeze(-1)
        if mode == 'loss':
            return dict(loss=((out - torch.stack(labels))**2).mean())
        return out


class _Points(Dataset):

    def __len__(self):
        return 8

    def __getitem__(self, index):
        generator = torch.Generator().manual_seed(index)
        return dict(inputs=torch.randn(2, generator=generator),
                    labels=torch.tensor(float(index % 2)))


def _runner(work_dir, max_iters, keep=1, **kwargs):
    torch.manual_seed(0)
    return M3PluginsRunner(
        model=_Regressor(),
        work_dir=str(work_dir),
        train_dataloader=dict(
            dataset=_Points(), batch_size=4,
            sampler=dict(type='DefaultSampler', shuffle=False)),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.1)),
        train_cfg=dict(by_epoch=False, max_iters=max_iters),
        default_hooks=dict(checkpoint=dict(
            type='SafeCheckpointHook', interval=1, by_epoch=False,
            max_keep_ckpts=keep)),
        default_scope='mmseg',
        **kwargs)


def _checkpoints(work_dir):
    return sorted(n for n in os.listdir(work_dir) if n.endswith('.pth'))


def _temporaries(work_dir):
    return [n for n in os.listdir(work_dir) if is_atomic_write_temp(n)]


def _pointer(work_dir):
    with open(osp.join(work_dir, 'last_checkpoint')) as file:
        return file.read().strip()


@pytest.mark.slow
@pytest.mark.parametrize('keep', [1, 2])
def test_rotation_keeps_the_newest_and_names_it(tmp_path, keep):
    _runner(tmp_path, 4, keep=keep).train()
    expected = [f'iter_{i}.pth' for i in range(5 - keep, 5)]
    assert _checkpoints(tmp_path) == sorted(expected)
    assert _pointer(tmp_path) == str(tmp_path / 'iter_4.pth')
    assert _temporaries(tmp_path) == []


@pytest.fixture(scope='module')
def uninterrupted(tmp_path_factory):
    """The weights of an uninterrupted 5-iteration run, per max_keep_ckpts."""
    runs = {}

    def weights(keep):
        if keep not in runs:
            work = tmp_path_factory.mktemp(f'uninterrupted_keep{keep}')
            _runner(work, 5, keep=keep).train()
            runs[keep] = torch.load(work / 'iter_5.pth')['state_dict']
        return runs[keep]

    return weights


class _Killed(BaseException):
    """Stands for a kill: nothing after it runs."""


def _fail_at(monkeypatch, stage, at_call):
    """Raise _Killed at the ``at_call``-th time ``stage`` happens."""
    calls = {'n': 0}

    def should_fail():
        calls['n'] += 1
        return calls['n'] == at_call

    if stage == 'write':
        real = M3PluginsRunner.save_checkpoint

        def save(self, out_dir, filename, *args, **kwargs):
            if should_fail():
                # Half a file under the temporary name, then the kill.
                with open(osp.join(out_dir, filename), 'wb') as file:
                    file.write(b'PK\x03\x04 partial')
                raise _Killed
            return real(self, out_dir, filename, *args, **kwargs)

        monkeypatch.setattr(M3PluginsRunner, 'save_checkpoint', save)
    elif stage in ('rename', 'pointer'):
        real_replace = os.replace

        def replace(source, target):
            is_pointer = osp.basename(target) == 'last_checkpoint'
            if (stage == 'pointer') == is_pointer and should_fail():
                raise _Killed
            return real_replace(source, target)

        monkeypatch.setattr(atomic_write.os, 'replace', replace)
    else:  # 'remove': the oldest checkpoint's removal
        real_remove = os.remove

        def remove(path):
            if osp.basename(path).startswith('iter_') and should_fail():
                raise _Killed
            return real_remove(path)

        monkeypatch.setattr(os, 'remove', remove)


@pytest.mark.slow
@pytest.mark.parametrize('keep', [1, 2])
@pytest.mark.parametrize('stage', ['write', 'rename', 'pointer', 'remove'])
def test_a_kill_at_any_step_leaves_a_resumable_checkpoint(
        tmp_path, monkeypatch, stage, keep, uninterrupted):
    reference = uninterrupted(keep)
    work = tmp_path / 'killed'
    with monkeypatch.context() as patch:
        _fail_at(patch, stage, at_call=3)
        with pytest.raises(_Killed):
            _runner(work, 5, keep=keep).train()
    named = _pointer(work)
    assert osp.isfile(named)
    load_local_checkpoint(named)  # complete
    newest = max(int(n[5:-4]) for n in _checkpoints(work))
    load_local_checkpoint(str(work / f'iter_{newest}.pth'))
    resumed = _runner(work, 5, keep=keep, resume=True)
    resumed.train()
    expected = reference
    for key, value in expected.items():
        assert torch.equal(resumed.model.state_dict()[key], value), key
    assert _temporaries(work) == []


def test_resume_candidates_newest_first(tmp_path):
    for step in (2, 10, 4):
        (tmp_path / f'iter_{step}.pth').write_bytes(b'x')
    (tmp_path / 'best_mIoU_iter_4.pth').write_bytes(b'x')
    (tmp_path / 'last_checkpoint').write_text(str(tmp_path / 'iter_4.pth'))
    assert resume_candidates(str(tmp_path)) == [
        str(tmp_path / f'iter_{s}.pth') for s in (10, 4, 2)]
    assert resume_candidates(str(tmp_path / 'empty')) == []


@pytest.mark.slow
def test_resume_skips_a_damaged_newest_checkpoint(tmp_path, caplog):
    _runner(tmp_path, 3, keep=3).train()
    good = torch.load(tmp_path / 'iter_2.pth')['state_dict']
    data = (tmp_path / 'iter_3.pth').read_bytes()
    (tmp_path / 'iter_3.pth').write_bytes(data[:len(data) // 2])
    resumed = _runner(tmp_path, 3, keep=3, resume=True)
    resumed.load_or_resume()
    assert resumed.iter == 2
    assert torch.equal(resumed.model.linear.weight,
                       good['linear.weight'])


@pytest.mark.slow
def test_resume_with_no_loadable_checkpoint_is_a_user_error(tmp_path):
    (tmp_path / 'iter_4.pth').write_text('not weights')
    (tmp_path / 'last_checkpoint').write_text(str(tmp_path / 'iter_4.pth'))
    runner = _runner(tmp_path, 5, resume=True)
    with raises_user_error(NotACheckpointError,
                           r'no checkpoint in .* loads; .*iter_4.pth'):
        runner.train()
