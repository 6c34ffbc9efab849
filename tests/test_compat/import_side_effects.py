"""Run in a fresh interpreter: which host attributes does the import change?

Prints a JSON list of ``module.attribute`` (or ``module.Class.attribute``)
names of mmengine, mmseg, mmcv and torch whose object is not the same
after ``import m3plugins`` as before it. The mmcv-lite ``mmcv.ops``
stand-in is installed first, from its file alone, since without it
``import mmseg.models`` fails on mmcv-lite before anything can be compared.
"""
import importlib.util
import json
import os.path as osp
import sys

HOSTS = ('mmengine', 'mmseg', 'mmcv', 'torch')


def _load_mmcv_ops_fallback(repo: str) -> None:
    path = osp.join(repo, 'm3plugins', 'compat', 'mmcv_ops.py')
    spec = importlib.util.spec_from_file_location('_mmcv_ops_alone', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.install_mmcv_ops_fallback()


def _snapshot() -> dict:
    seen = {}
    for name, module in list(sys.modules.items()):
        if module is None or name.split('.')[0] not in HOSTS:
            continue
        for attr, value in list(vars(module).items()):
            seen[f'{name}.{attr}'] = id(value)
            if isinstance(value, type) and value.__module__ == name:
                for member, inner in list(vars(value).items()):
                    seen[f'{name}.{attr}.{member}'] = id(inner)
    return seen


def main(repo: str) -> None:
    _load_mmcv_ops_fallback(repo)
    import mmengine.runner  # noqa: F401
    import mmseg.apis  # noqa: F401
    import mmseg.models  # noqa: F401
    import mmseg.utils  # noqa: F401
    import torch  # noqa: F401
    before = _snapshot()
    import m3plugins  # noqa: F401
    after = _snapshot()
    changed = sorted(key for key, ident in before.items()
                     if key in after and after[key] != ident)
    print(json.dumps(changed))


if __name__ == '__main__':
    main(sys.argv[1])
