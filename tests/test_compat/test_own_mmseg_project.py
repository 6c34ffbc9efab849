"""An own MMSeg config trains the same with ``custom_imports`` as without.

Loss of every iteration and every tensor of the checkpoint, bit for bit.
"""
import json
import subprocess
import sys

import pytest
from repo_root import REPO_ROOT

SCRIPT = f'{REPO_ROOT}/tests/test_compat/train_mmseg_own_config.py'


def _train(work_dir, variant):
    out = subprocess.run([sys.executable, SCRIPT, str(work_dir), variant],
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_custom_imports_change_nothing_of_an_own_config(tmp_path):
    without = _train(tmp_path / 'without', 'without')
    with_plugin = _train(tmp_path / 'with', 'with')
    assert not without['plugin_loaded'] and with_plugin['plugin_loaded']
    assert len(without['losses']) == 3
    assert with_plugin['losses'] == without['losses']
    assert with_plugin['state_dict'] == without['state_dict']
