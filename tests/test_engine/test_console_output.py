"""The runner's console: progress, results and warnings; details in the log."""
import logging
import warnings

import pytest

from m3plugins.engine.console_output import ConsoleLogFilter
from m3plugins.utils.quiet_warnings import (
    FULL_CONSOLE_VARIABLE,
    quiet_unactionable_warnings,
)


def _record(message, level=logging.INFO):
    return logging.LogRecord('mmengine', level, __file__, 1, message, None,
                             None)


@pytest.mark.parametrize('message, level, shown', [
    ('Iter(train) [ 50/150]  lr: 1e-3  eta: 0:00:09', logging.INFO, True),
    ('Saving checkpoint at 150 iterations', logging.INFO, True),
    ('mIoU 91.56, mF1 95.34, OA 98.10', logging.INFO, True),
    ('\n+------+-----+\n| Class | IoU |', logging.INFO, True),
    ('m3plugins demo: using the demo tiles', logging.INFO, True),
    ('\n------------------------------------------------------------\n'
     'System environment:\n    sys.platform: linux', logging.INFO, False),
    ('Config:\nmodel = dict(type="MoBaNetSegmentor")', logging.INFO, False),
    ('paramwise_options -- neck.gates.0.bias:weight_decay=0.0',
     logging.INFO, False),
    ('62 parameter(s) with requires_grad=False are left out',
     logging.WARNING, True),
    ('"FileClient" will be deprecated in future.', logging.WARNING, False),
    ('Resume skipped x.pth: truncated', logging.WARNING, True),
])
def test_console_keeps_what_a_person_reads(message, level, shown):
    assert ConsoleLogFilter().filter(_record(message, level)) is shown


def test_unactionable_warnings_are_held_back_inside_the_block_only(
        monkeypatch):
    monkeypatch.delenv(FULL_CONSOLE_VARIABLE, raising=False)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        with quiet_unactionable_warnings():
            warnings.warn('``build_loss`` would be deprecated soon')
            warnings.warn('a warning a user can act on')
        warnings.warn('``build_loss`` would be deprecated soon')
    assert [str(w.message) for w in caught] == [
        'a warning a user can act on',
        '``build_loss`` would be deprecated soon']
    monkeypatch.setenv(FULL_CONSOLE_VARIABLE, '1')
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        with quiet_unactionable_warnings():
            warnings.warn('``build_loss`` would be deprecated soon')
    assert len(caught) == 1
