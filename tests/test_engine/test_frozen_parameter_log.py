"""M3PluginsRunner logs frozen parameters once per optimizer build.

mmengine's own constructor, outside that runner, keeps its one line per
parameter.
"""
import logging

import pytest
import torch
from mmengine.logging import MMLogger
from mmengine.optim import build_optim_wrapper
from torch import nn

from m3plugins.engine import M3PluginsRunner


class Collect(logging.Handler):

    def __init__(self):
        super().__init__(logging.DEBUG)
        self.messages = []

    def emit(self, record):
        self.messages.append(record.getMessage())


OPTIM = dict(optimizer=dict(type='SGD', lr=0.1, weight_decay=1e-4),
             paramwise_cfg=dict(norm_decay_mult=0.0))


def _partly_frozen_model():
    model = nn.Sequential(*[nn.Linear(2, 2) for _ in range(5)])
    for layer in list(model)[:4]:
        layer.requires_grad_(False)  # 8 frozen parameters
    return model


@pytest.mark.slow
def test_frozen_parameters_give_one_line_naming_count_and_examples(tmp_path):
    runner = M3PluginsRunner(model=_partly_frozen_model(),
                             work_dir=str(tmp_path),
                             experiment_name='frozen_log_test')
    logger = MMLogger.get_current_instance()
    collected = Collect()
    logger.addHandler(collected)
    try:
        wrapper = runner.build_optim_wrapper(OPTIM)
        logger.warning('a later message is not held back')
    finally:
        logger.removeHandler(collected)
    per_parameter = [m for m in collected.messages
                     if 'is skipped since its requires_grad=False' in m]
    assert per_parameter == []
    summaries = [m for m in collected.messages if 'requires_grad=False' in m]
    assert summaries == [
        '8 parameter(s) with requires_grad=False are left out of the '
        'optimizer (e.g. 0.weight, 0.bias, 1.weight, ...).'
    ]
    assert 'a later message is not held back' in collected.messages
    trained = [p for group in wrapper.optimizer.param_groups
               for p in group['params']]
    assert len(trained) == 2 and all(p.requires_grad for p in trained)
    assert not any(isinstance(f, logging.Filter) and
                   f.name == 'm3plugins.frozen_parameters'
                   for f in logger.filters)


def test_mmengine_alone_keeps_its_per_parameter_lines():
    logger = MMLogger.get_instance('m3plugins_frozen_parameter_log_host')
    collected = Collect()
    logger.addHandler(collected)
    try:
        build_optim_wrapper(_partly_frozen_model(), OPTIM)
    finally:
        logger.removeHandler(collected)
    per_parameter = [m for m in collected.messages
                     if 'is skipped since its requires_grad=False' in m]
    assert len(per_parameter) == 8


def test_a_build_without_frozen_parameters_adds_no_line():
    logger = MMLogger.get_instance('m3plugins_frozen_parameter_log_test2')
    collected = Collect()
    logger.addHandler(collected)
    try:
        build_optim_wrapper(
            nn.Linear(2, 2),
            dict(optimizer=dict(type='SGD', lr=0.1, weight_decay=1e-4),
                 paramwise_cfg=dict(norm_decay_mult=0.0)))
    finally:
        logger.removeHandler(collected)
    assert not any('requires_grad' in m for m in collected.messages)
    assert torch.is_grad_enabled()
