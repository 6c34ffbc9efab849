"""``import m3plugins`` registers modules and replaces nothing of its hosts.

The only host state it changes is the one it must and the README lists:
torch's weights-only allowlist (extended through torch's own
``add_safe_globals``). The mmcv-lite ``mmcv.ops`` stand-in is a module put
into ``sys.modules`` where none could be imported, not a replaced attribute.
"""
import json
import subprocess
import sys

import pytest
from repo_root import REPO_ROOT

#: What the import may change, each with its reason in the README.
ALLOWED = {
    # torch.serialization.add_safe_globals rebinds this set.
    'torch._weights_only_unpickler._marked_safe_globals_set',
}


@pytest.mark.slow
def test_import_replaces_no_attribute_of_mmengine_mmseg_mmcv_torch():
    out = subprocess.run(
        [sys.executable, f'{REPO_ROOT}/tests/test_compat/'
         'import_side_effects.py', REPO_ROOT],
        capture_output=True, text=True, timeout=300, cwd=REPO_ROOT)
    assert out.returncode == 0, out.stderr[-3000:]
    changed = set(json.loads(out.stdout.strip().splitlines()[-1]))
    assert changed <= ALLOWED, sorted(changed - ALLOWED)


def test_the_host_functions_the_plugin_once_replaced_are_the_hosts():
    """In this process too: mmengine's and MMSeg's own objects."""
    import mmengine.dist
    from mmengine.fileio.backends.local_backend import LocalBackend
    from mmengine.optim import DefaultOptimWrapperConstructor
    from mmengine.runner import Runner, checkpoint
    from mmseg.models.losses import cross_entropy_loss
    assert LocalBackend.put.__module__ == \
        'mmengine.fileio.backends.local_backend'
    assert cross_entropy_loss.cross_entropy.__module__ == \
        'mmseg.models.losses.cross_entropy_loss'
    for method in (Runner.wrap_model, Runner.load_checkpoint):
        assert method.__module__ == 'mmengine.runner.runner'
    assert checkpoint.load_checkpoint.__module__ == \
        'mmengine.runner.checkpoint'
    assert checkpoint._load_checkpoint_to_model.__module__ == \
        'mmengine.runner.checkpoint'
    assert mmengine.dist.init_dist.__module__ == 'mmengine.dist.utils'
    assert DefaultOptimWrapperConstructor.__call__.__module__ == \
        'mmengine.optim.optimizer.default_constructor'
    loader = checkpoint.CheckpointLoader._schemes['']
    assert loader.__module__ == 'mmengine.runner.checkpoint'
