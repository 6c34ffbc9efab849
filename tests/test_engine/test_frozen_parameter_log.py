"""mmengine's optimizer constructor logs frozen parameters once per build."""
import logging

import torch
from mmengine.logging import MMLogger
from mmengine.optim import build_optim_wrapper
from torch import nn

import m3plugins  # noqa: F401  (installs the compat patches)


class Collect(logging.Handler):

    def __init__(self):
        super().__init__(logging.DEBUG)
        self.messages = []

    def emit(self, record):
        self.messages.append(record.getMessage())


def test_frozen_parameters_give_one_line_naming_count_and_examples():
    logger = MMLogger.get_instance('m3plugins_frozen_parameter_log_test')
    collected = Collect()
    logger.addHandler(collected)
    model = nn.Sequential(*[nn.Linear(2, 2) for _ in range(5)])
    for layer in list(model)[:4]:
        layer.requires_grad_(False)  # 8 frozen parameters
    try:
        wrapper = build_optim_wrapper(
            model,
            dict(optimizer=dict(type='SGD', lr=0.1, weight_decay=1e-4),
                 paramwise_cfg=dict(norm_decay_mult=0.0)))
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
