"""``tools/infer.py`` refuses outputs that would replace the user's files.

Every refusal happens before the config is read or the model built: the
tests hand the tool rasters that are not even rasters, and a refused run
must leave every file as it was.
"""
import importlib.util
import os
import os.path as osp

import pytest
from repo_root import REPO_ROOT

DEMO_CONFIG = osp.join(REPO_ROOT, 'configs', 'mobanet', 'mobanet_demo.py')


@pytest.fixture(scope='module')
def infer_main():
    """``tools/infer.py``'s ``main`` (tools/ is not a package)."""
    spec = importlib.util.spec_from_file_location(
        'm3plugins_tools_infer_outputs',
        osp.join(REPO_ROOT, 'tools', 'infer.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.main


@pytest.fixture
def scene(tmp_path):
    """Two input files standing in for the optical and DSM rasters."""
    paths = {}
    for name in ('optical', 'dsm'):
        path = tmp_path / f'{name}.tif'
        path.write_bytes(f'{name} pixels'.encode())
        paths[name] = path
    return paths


def _argv(scene, *extra, config=DEMO_CONFIG):
    return [config, 'none', '--modality', f'optical={scene["optical"]}',
            '--modality', f'dsm={scene["dsm"]}', '--no-progress',
            '--device', 'cpu', *extra]


def _refused(main, argv, capsys, *phrases):
    """Run the tool; it must exit 2 with one message holding ``phrases``."""
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert 'Output would overwrite a file.' in err
    assert 'Traceback' not in err
    for phrase in phrases:
        assert phrase in err, err
    return err


def test_existing_preview_is_not_replaced(infer_main, scene, tmp_path,
                                         capsys):
    """--out notes.tif used to replace the user's notes.png."""
    notes = tmp_path / 'notes.png'
    notes.write_text('my notes')
    _refused(infer_main, _argv(scene, '--out', str(tmp_path / 'notes.tif')),
             capsys, f'{notes} (PNG preview of', 'already exists',
             '--overwrite')
    assert notes.read_text() == 'my notes'
    assert not (tmp_path / 'notes.tif').exists()


def test_existing_class_map_and_probabilities(infer_main, scene, tmp_path,
                                             capsys):
    probs = tmp_path / 'map_probs.tif'
    probs.write_text('earlier run')
    _refused(infer_main, _argv(scene, '--out', str(tmp_path / 'map.tif'),
                               '--save-probs', '--no-preview'),
             capsys, f'{probs} (probabilities of')
    out = tmp_path / 'kept.tif'
    out.write_text('earlier map')
    _refused(infer_main, _argv(scene, '--out', str(out)), capsys,
             f'{out} (class map, --out) already exists')
    assert out.read_text() == 'earlier map'


@pytest.mark.parametrize('link', [None, 'symlink', 'hardlink'])
def test_an_input_is_never_the_output(infer_main, scene, tmp_path, capsys,
                                      link):
    """Also with --overwrite, and also through links."""
    out = scene['dsm']
    if link is not None:
        out = tmp_path / 'alias.tif'
        (os.symlink if link == 'symlink' else os.link)(scene['dsm'], out)
    _refused(infer_main, _argv(scene, '--out', str(out), '--overwrite'),
             capsys, f'{out} (class map, --out) is the input --modality dsm',
             'never replaces an input')
    assert scene['dsm'].read_bytes() == b'dsm pixels'


def test_png_class_map_would_be_its_own_preview(infer_main, scene, tmp_path,
                                               capsys):
    out = tmp_path / 'map.png'
    _refused(infer_main, _argv(scene, '--out', str(out)), capsys,
             f'{out} (PNG preview of {out}) is also {out} (class map')


def test_scene_list_outputs_are_checked(infer_main, scene, tmp_path, capsys):
    """--scenes: every row's outputs, the inputs of every row, the CSV."""
    csv_path = tmp_path / 'scenes.csv'
    csv_path.write_text(
        'out,optical,dsm\n'
        f'{tmp_path / "a.tif"},{scene["optical"]},{scene["dsm"]}\n'
        f'{scene["optical"]},{scene["optical"]},{scene["dsm"]}\n'
        f'{csv_path},{scene["optical"]},{scene["dsm"]}\n')
    _refused(infer_main, [DEMO_CONFIG, 'none', '--scenes', str(csv_path),
                          '--no-progress', '--no-preview'], capsys,
             f'out of {csv_path}) is the input --modality optical',
             f'{csv_path} (class map, out of {csv_path}) is the input '
             '--scenes')


def test_overwrite_passes_and_missing_tower_weights_stop_before_the_model(
        infer_main, scene, tmp_path, capsys):
    """--overwrite lets the run go on, to the tower-weights check.

    That check names the missing weight file before the model is built.
    """
    out = tmp_path / 'map.tif'
    out.write_text('earlier map')
    config = tmp_path / 'with_weights.py'
    config.write_text(
        f'_base_ = [{DEMO_CONFIG!r}]\n'
        'model = dict(backbone=dict(foundation_model=dict('
        "pretrained='missing/dinov2_vits14.pth')))\n")
    assert infer_main(_argv(scene, '--out', str(out), '--overwrite',
                            config=str(config))) == 2
    err = capsys.readouterr().err
    assert 'Pretrained weights not found.' in err
    assert ("model.backbone.foundation_model.pretrained="
            "'missing/dinov2_vits14.pth'") in err
    assert 'does not exist' in err and 'Traceback' not in err
    assert out.read_text() == 'earlier map'
