"""Benchmark tools that write files keep the user's files in their folder.

``tools/benchmark_infer.py --work-dir`` (scene rasters and class maps) and
``tools/test_modality_robustness.py`` (``<work_dir>/modality_robustness
.json``) refuse, before any work, to replace what is already there unless
``--overwrite`` is given.
"""
import importlib.util
import os.path as osp

from repo_root import REPO_ROOT
from user_error import raises_user_error

from m3plugins.utils.output_paths import OutputOverwriteError

MOBANET = osp.join(REPO_ROOT, 'configs', 'mobanet', 'mobanet_demo.py')


def _tool(name):
    spec = importlib.util.spec_from_file_location(
        f'm3plugins_tool_{name}_outputs',
        osp.join(REPO_ROOT, 'tools', f'{name}.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _no_work(*args, **kwargs):
    raise AssertionError('work started before the outputs were checked')


def test_benchmark_infer_keeps_an_earlier_work_dir(tmp_path, monkeypatch):
    tool = _tool('benchmark_infer')
    monkeypatch.setattr(tool, 'write_scene', _no_work)
    (tmp_path / 'map_tiled.tif').write_text('earlier map')
    with raises_user_error(OutputOverwriteError,
                           r'map_tiled\.tif \(tiled class map\) already '
                           'exists'):
        tool.main(['--work-dir', str(tmp_path), '--size', '8',
                   '--no-baseline'])
    assert (tmp_path / 'map_tiled.tif').read_text() == 'earlier map'
    tool.check_work_dir_outputs(tool.parse_args(
        ['--work-dir', str(tmp_path), '--overwrite']))


def test_modality_robustness_keeps_an_earlier_table(tmp_path, monkeypatch):
    tool = _tool('test_modality_robustness')
    monkeypatch.setattr(tool, 'build_runner', _no_work)
    table = tmp_path / 'modality_robustness.json'
    table.write_text('{"full": {}}')
    checkpoint = tmp_path / 'iter_1.pth'
    checkpoint.write_bytes(b'weights')
    argv = [MOBANET, str(checkpoint), '--work-dir', str(tmp_path)]
    with raises_user_error(OutputOverwriteError,
                           r'modality_robustness\.json \(the robustness '
                           r'table\) already exists; pass --overwrite'):
        tool.main(argv)
    assert table.read_text() == '{"full": {}}'
