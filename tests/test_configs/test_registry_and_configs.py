"""Everything the package registers builds, and every config builds its model.

* In a fresh interpreter, ``import m3plugins`` registers its modules into
  MMSeg's registries without clashing with MMSeg's own names, and every
  registered module of the package builds from its default arguments (or,
  for modules that cannot have defaults, such as datasets that need files,
  from the arguments listed in ``REQUIRED_ARGS``, which must stay minimal).
* Every config under ``configs/`` loads with ``Config.fromfile`` and its
  model builds.
"""
import glob
import json
import os.path as osp
import subprocess
import sys

import pytest
from repo_root import REPO_ROOT

import m3plugins  # noqa: F401  (host-stack fixes before mmseg.models)
from m3plugins.utils.offline_configs import without_pretrained_weights

REPO = REPO_ROOT
REGISTRIES = ('MODELS', 'DATASETS', 'TRANSFORMS', 'METRICS', 'HOOKS')

_LIST_REGISTERED = '''
import json
from mmseg.registry import {registries}
before = {{name: set(reg.module_dict) for name, reg in
           zip({names!r}, [{registries}])}}
import m3plugins
out = {{}}
for name, reg in zip({names!r}, [{registries}]):
    out[name] = {{key: cls.__module__ for key, cls in reg.module_dict.items()
                 if cls.__module__.startswith('m3plugins')}}
    clash = before[name] & set(out[name])
    assert not clash, (name, clash)
print(json.dumps(out))
'''.format(registries=', '.join(REGISTRIES), names=list(REGISTRIES))


@pytest.fixture(scope='module')
def registered():
    """Name -> module of every m3plugins component, per registry."""
    out = subprocess.run([sys.executable, '-c', _LIST_REGISTERED],
                         capture_output=True, text=True, cwd=REPO)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_import_registers_models_in_mmseg_scope(registered):
    assert registered['MODELS'], 'no model registered by m3plugins'
    for registry, entries in registered.items():
        for name, module in entries.items():
            assert module.startswith('m3plugins.'), (registry, name)


def _build_all_registered(registered):
    """Build every registered component; returns failures."""
    from mmseg import registry as mmseg_registry
    from required_args import REQUIRED_ARGS, build_context
    failures = []
    with build_context() as context:
        for registry_name, entries in registered.items():
            registry = getattr(mmseg_registry, registry_name)
            for name in sorted(entries):
                kwargs = REQUIRED_ARGS.get(name, {})
                if callable(kwargs):
                    kwargs = kwargs(context)
                try:
                    built = registry.build(dict(type=name, **kwargs))
                except Exception as err:  # report all at once
                    failures.append(f'{registry_name}.{name}: '
                                    f'{type(err).__name__}: {err}')
                    continue
                if built is None:
                    failures.append(f'{registry_name}.{name}: built None')
    return failures


def test_every_registered_module_builds(registered, monkeypatch):
    monkeypatch.syspath_prepend(osp.dirname(osp.abspath(__file__)))
    failures = _build_all_registered(registered)
    assert not failures, '\n'.join(failures)


def _configs():
    return sorted(
        p for p in glob.glob(osp.join(REPO, 'configs', '**', '*.py'),
                             recursive=True)
        if f'{osp.sep}_base_{osp.sep}' not in p)


def test_there_are_configs():
    assert _configs(), 'configs/ holds no runnable config'


@pytest.mark.parametrize(
    'config', _configs(), ids=lambda p: osp.relpath(p, REPO))
def test_config_loads_and_model_builds(config):
    from mmengine.config import Config
    from mmseg.registry import MODELS
    from mmseg.utils import register_all_modules

    register_all_modules(init_default_scope=True)
    cfg = Config.fromfile(config)
    assert cfg.custom_imports['imports'] == ['m3plugins']
    assert cfg.default_scope == 'mmseg'
    for key in ('train_dataloader', 'val_dataloader', 'test_dataloader',
                'val_evaluator', 'test_evaluator', 'optim_wrapper',
                'train_cfg'):
        assert key in cfg, f'{key} missing in {config}'
    model = MODELS.build(without_pretrained_weights(cfg.model))
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    assert trainable > 0


def _modality_layouts(node, path='model'):
    """Every ``modality_channels`` entry in a config node, with its path."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == 'modality_channels':
                yield f'{path}.{key}', value
            else:
                yield from _modality_layouts(value, f'{path}.{key}')
    elif isinstance(node, (list, tuple)):
        for i, value in enumerate(node):
            yield from _modality_layouts(value, f'{path}[{i}]')


@pytest.mark.parametrize(
    'config', _configs(), ids=lambda p: osp.relpath(p, REPO))
def test_modality_order_survives_config_dump(config, tmp_path):
    """Modality layouts survive mmengine's config dump in their order.

    The dump (written to every work dir, reused by tools/test.py and mim
    test) sorts dict keys: layouts must be (name, C) pairs so the model
    still splits the stacked channels in the data's order.
    """
    from mmengine.config import Config
    cfg = Config.fromfile(config)
    layouts = dict(_modality_layouts(cfg.to_dict()['model']))
    for path, layout in layouts.items():
        assert isinstance(layout, (list, tuple)), (
            f'{path} must be (name, channels) pairs, got {layout!r}')
    dumped = tmp_path / 'dumped.py'
    cfg.dump(str(dumped))
    reloaded = dict(_modality_layouts(
        Config.fromfile(str(dumped)).to_dict()['model']))
    assert {k: [tuple(p) for p in v] for k, v in reloaded.items()} == \
        {k: [tuple(p) for p in v] for k, v in layouts.items()}
