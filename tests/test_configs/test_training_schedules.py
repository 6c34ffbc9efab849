"""The MoBaNet paper configs train at the official learning rate.

The official ``train.py`` (sauryeo/MoBaNet) steps a ``LambdaLR`` once per
epoch of 1000 iterations: epoch e runs at 2e-4 * (e + 1) / 5 for e < 5,
then at a per-epoch cosine from 2e-4 towards 1e-6 over the remaining 45
epochs. ``official_lr`` restates that rule; the configs' mmengine
schedulers are stepped as mmengine's ``ParamSchedulerHook`` steps them
(once after every iteration) and compared with it at every iteration.
"""
import glob
import math
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.optim import build_optim_wrapper
from mmengine.registry import PARAM_SCHEDULERS
from torch import nn

import m3plugins  # noqa: F401  (registers everything before mmseg.models)

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
SCHEDULES = osp.join(REPO, 'configs', '_base_', 'schedules')
PAPER_SCHEDULE = osp.join(SCHEDULES, 'schedule_mobanet_50k.py')
LINEAR_WARMUP = osp.join(SCHEDULES, 'schedule_mobanet_50k_linear_warmup.py')


def official_lr(iteration, base_lr=2e-4, min_lr=1e-6, epochs=50,
                warmup=5, iters_per_epoch=1000):
    """train.py's learning rate during ``iteration`` (from 0)."""
    epoch = iteration // iters_per_epoch
    if epoch < warmup:
        return base_lr * (epoch + 1) / warmup
    progress = (epoch - warmup) / (epochs - warmup)
    cosine = 0.5 * (1 + math.cos(math.pi * progress))
    return base_lr * (min_lr / base_lr + (1 - min_lr / base_lr) * cosine)


class TinyNet(nn.Module):
    """A weight, a bias and a norm: the three parameter kinds of MoBaNet."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(2, 3, 1)
        self.norm = nn.BatchNorm2d(3)


def lr_per_iteration(cfg, model, iterations=None):
    """The lr of every param group during each iteration of the config."""
    wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    optimizer = wrapper.optimizer
    schedulers = [
        PARAM_SCHEDULERS.build(dict(scheduler, optimizer=optimizer))
        for scheduler in cfg.param_scheduler
    ]
    optimizer.step()  # no gradients: changes nothing, orders the steps
    rates = []
    for _ in range(iterations or cfg.train_cfg.max_iters):
        rates.append([group['lr'] for group in optimizer.param_groups])
        for scheduler in schedulers:  # as ParamSchedulerHook, in order
            scheduler.step()
    return rates, optimizer


@pytest.fixture(scope='module')
def paper():
    """The paper schedule and its lr per iteration (one param group)."""
    cfg = Config.fromfile(PAPER_SCHEDULE)
    rates, _ = lr_per_iteration(cfg, nn.Linear(2, 2, bias=False))
    return cfg, [step[0] for step in rates]


def test_every_param_group_follows_one_schedule(paper):
    cfg, expected = paper
    rates, optimizer = lr_per_iteration(cfg, TinyNet(), iterations=2001)
    assert len(optimizer.param_groups) == 4  # weight, bias, norm w / b
    assert [set(step) for step in rates] == \
        [{rate} for rate in expected[:2001]]


def test_weight_decay_as_train_py(paper):
    cfg, _ = paper
    optimizer = build_optim_wrapper(TinyNet(), cfg.optim_wrapper).optimizer
    decay = {tuple(p.shape): g['weight_decay']
             for g in optimizer.param_groups for p in g['params']}
    assert decay[(3, 2, 1, 1)] == 0.05  # conv weight
    assert decay[(3, )] == 0.0  # biases and norm parameters (1-D)


def test_first_iteration_runs_at_4e_5(paper):
    cfg, rates = paper
    assert cfg.optim_wrapper.optimizer.lr == 2e-4
    assert rates[0] == pytest.approx(4e-5, rel=1e-12)


def test_warm_up_is_a_staircase_of_epochs(paper):
    _, rates = paper
    for epoch, expected in enumerate([4e-5, 8e-5, 1.2e-4, 1.6e-4, 2e-4]):
        epoch_rates = rates[epoch * 1000:(epoch + 1) * 1000]
        assert max(epoch_rates) == min(epoch_rates), epoch
        assert epoch_rates[0] == pytest.approx(expected, rel=1e-12), epoch
    assert rates[999] == pytest.approx(4e-5, rel=1e-12)
    assert rates[1000] == pytest.approx(8e-5, rel=1e-12)
    assert rates[4999] == pytest.approx(2e-4, rel=1e-12)
    assert rates[5000] == pytest.approx(2e-4, rel=1e-12)  # cosine, e=5


def test_every_iteration_runs_at_the_official_rate(paper):
    cfg, rates = paper
    assert cfg.train_cfg.max_iters == len(rates) == 50000
    wrong = [i for i, rate in enumerate(rates)
             if rate != pytest.approx(official_lr(i), rel=1e-9)]
    assert wrong == []


def test_cosine_runs_down_to_the_1e_6_floor(paper):
    _, rates = paper
    last = rates[-1]
    # Epoch 49 of 50: one cosine step above the floor, never below it.
    assert last == pytest.approx(1e-6 + (2e-4 - 1e-6) * 0.5 *
                                 (1 + math.cos(math.pi * 44 / 45)), rel=1e-9)
    assert 1e-6 < last < 1.25e-6
    assert min(rates) == last
    assert official_lr(50000) == pytest.approx(1e-6, rel=1e-12)
    # Monotone after the warm-up: each epoch at most the one before.
    per_epoch = [rates[e * 1000] for e in range(5, 50)]
    assert all(a >= b for a, b in zip(per_epoch, per_epoch[1:]))


def test_linear_warm_up_option(paper):
    cfg = Config.fromfile(LINEAR_WARMUP)
    assert cfg.optim_wrapper == paper[0].optim_wrapper
    assert cfg.train_cfg.max_iters == 50000
    rates = [step[0] for step in
             lr_per_iteration(cfg, nn.Linear(2, 2, bias=False))[0]]
    assert rates[0] == pytest.approx(1e-6, rel=1e-9)
    warm_up = rates[:5000]
    assert all(a < b for a, b in zip(warm_up, warm_up[1:]))
    assert rates[4999] == rates[5000] == pytest.approx(2e-4, rel=1e-9)
    assert rates[-1] == pytest.approx(1e-6, rel=1e-3)
    assert rates[999] != pytest.approx(official_lr(999), rel=0.01)


def _paper_configs():
    paths = glob.glob(osp.join(REPO, 'configs', 'mobanet_*.py'))
    paths += glob.glob(osp.join(REPO, 'configs', 'mobanet', '*.py'))
    return sorted(p for p in paths if not p.endswith('_demo.py'))


@pytest.mark.parametrize('path', _paper_configs(),
                         ids=lambda p: osp.relpath(p, REPO))
def test_paper_configs_use_the_official_schedule(paper, path):
    cfg = Config.fromfile(path)
    assert cfg.param_scheduler == paper[0].param_scheduler
    assert cfg.optim_wrapper == paper[0].optim_wrapper
    assert cfg.train_cfg.max_iters == 50000
    assert cfg.train_dataloader.batch_size == 24  # 1000 iterations = 24k


@pytest.mark.slow
def test_runner_trains_the_first_iterations_at_4e_5(tmp_path):
    """The Runner's ParamSchedulerHook applies the paper schedule as given."""
    from mmengine.hooks import Hook
    from mmengine.model import BaseModel
    from mmengine.runner import Runner

    class Regressor(BaseModel):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(2, 1, 1)

        def forward(self, inputs, target, mode='loss'):
            return dict(loss=(self.conv(inputs) - target).pow(2).mean())

    class RecordLr(Hook):
        def __init__(self):
            self.rates = []

        def before_train_iter(self, runner, batch_idx, data_batch=None):
            self.rates.append(runner.optim_wrapper.get_lr()['lr'][0])

    class Pairs(torch.utils.data.Dataset):
        def __len__(self):
            return 4

        def __getitem__(self, index):
            return dict(inputs=torch.ones(2, 2, 2),
                        target=torch.zeros(1, 2, 2))

    schedule = Config.fromfile(PAPER_SCHEDULE)
    record = RecordLr()
    runner = Runner(
        model=Regressor(),
        work_dir=str(tmp_path),
        train_dataloader=dict(
            dataset=Pairs(), batch_size=2,
            sampler=dict(type='InfiniteSampler', shuffle=False),
            collate_fn=dict(type='default_collate')),
        optim_wrapper=schedule.optim_wrapper,
        param_scheduler=schedule.param_scheduler,
        train_cfg=dict(type='IterBasedTrainLoop', max_iters=3),
        default_hooks=dict(checkpoint=None, logger=None),
        custom_hooks=[record],
        default_scope='mmengine',
        log_level='WARNING')
    runner.train()
    assert record.rates == [pytest.approx(4e-5, rel=1e-12)] * 3
