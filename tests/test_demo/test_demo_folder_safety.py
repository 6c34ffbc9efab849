"""Demo generators never overwrite files they did not write."""
import json
import os
import os.path as osp

import numpy as np
import pytest
from scipy.io import loadmat, savemat

import m3plugins  # noqa: F401
from m3plugins.demo import DemoFolderNotEmptyError, demo_folder
from m3plugins.demo.hsi_scene import DEMO_SCENE_SHAPE, make_demo_hsi_scene
from m3plugins.demo.isprs_tiles import make_demo_isprs


def _snapshot(root):
    """Every file below ``root`` with its bytes."""
    found = {}
    for folder, _, names in os.walk(root):
        for name in names:
            path = osp.join(folder, name)
            with open(path, 'rb') as file:
                found[osp.relpath(path, root)] = file.read()
    return found


@pytest.fixture
def demo_log(monkeypatch):
    lines = []
    monkeypatch.setattr(demo_folder, 'print_log',
                        lambda message, logger=None: lines.append(message))
    return lines


def _users_houston_folder(root):
    os.makedirs(root)
    savemat(osp.join(root, 'HSI.mat'),
            {'HSI': np.full((3, 4, 5), 7, np.float32)})
    with open(osp.join(root, 'notes.txt'), 'w') as file:
        file.write('my Houston2013 copy\n')
    return _snapshot(root)


def test_user_folder_with_foreign_hsi_mat_is_refused(tmp_path, demo_log):
    root = str(tmp_path / 'houston2013')
    before = _users_houston_folder(root)
    with pytest.raises(DemoFolderNotEmptyError) as error_info:
        make_demo_hsi_scene(root)
    message = str(error_info.value)
    assert f'Refusing to write demo data into {root}' in message
    assert 'would overwrite HSI.mat' in message
    assert 'Nothing was written' in message
    assert _snapshot(root) == before  # bytes unchanged, nothing added
    assert demo_log == []


def test_hsi_demo_scene_config_root_is_refused(tmp_path):
    """The demo config's ``scene.root`` pointed at a user's folder."""
    from m3plugins.demo import HSIDemoScene
    root = str(tmp_path / 'real_scene')
    before = _users_houston_folder(root)
    with pytest.raises(DemoFolderNotEmptyError, match='HSI.mat'):
        HSIDemoScene(root=root)
    assert _snapshot(root) == before


def test_non_empty_folder_without_manifest_is_refused(tmp_path):
    root = tmp_path / 'results'
    root.mkdir()
    (root / 'table.csv').write_text('a,b\n')
    with pytest.raises(DemoFolderNotEmptyError,
                       match=r'not empty .*\(it holds table\.csv\)'):
        make_demo_hsi_scene(str(root))
    assert sorted(os.listdir(root)) == ['table.csv']


def test_foreign_manifest_name_is_not_taken_for_ours(tmp_path):
    root = tmp_path / 'other_tool'
    root.mkdir()
    (root / 'demo_manifest.json').write_text(json.dumps({'tool': 'x'}))
    with pytest.raises(DemoFolderNotEmptyError,
                       match='would overwrite demo_manifest.json'):
        make_demo_hsi_scene(str(root))
    assert json.loads((root / 'demo_manifest.json').read_text()) == {
        'tool': 'x'
    }


def test_file_is_not_a_folder(tmp_path):
    path = tmp_path / 'HSI.mat'
    path.write_bytes(b'user data')
    with pytest.raises(NotADirectoryError, match=str(path)):
        make_demo_hsi_scene(str(path))
    assert path.read_bytes() == b'user data'


@pytest.mark.parametrize('exists', [True, False])
def test_empty_or_missing_folder_works_and_logs_absolute_path(
        tmp_path, monkeypatch, demo_log, exists):
    monkeypatch.chdir(tmp_path)
    if exists:
        os.makedirs('data/scene')
    make_demo_hsi_scene(osp.join('data', 'scene'))
    absolute = str(tmp_path / 'data' / 'scene')
    assert demo_log == [
        'm3plugins demo: writing the HSI + LiDAR demo scene (seed 0) to '
        f'{absolute}'
    ]
    assert loadmat(osp.join(absolute, 'HSI.mat'))['HSI'].shape == \
        DEMO_SCENE_SHAPE + (144, )
    manifest = json.loads(
        open(osp.join(absolute, 'demo_manifest.json')).read())
    assert manifest['generator'] == 'm3plugins.demo.make_demo_hsi_scene'
    assert manifest['m3plugins_version'] == m3plugins.__version__
    assert manifest['complete'] is True
    assert sorted(manifest['md5']) == ['HSI.mat', 'LiDAR.mat', 'TRLabel.mat',
                                       'TSLabel.mat']


def test_rerun_into_own_folder_reuses_and_regenerates(tmp_path, demo_log):
    root = str(tmp_path / 'scene')
    make_demo_hsi_scene(root, seed=0)
    (tmp_path / 'scene' / 'my_notes.txt').write_text('kept')
    first = _snapshot(root)
    make_demo_hsi_scene(root, seed=0)  # valid: nothing rewritten
    assert _snapshot(root) == first
    assert demo_log[-1].startswith('m3plugins demo: using the HSI + LiDAR '
                                   f'demo scene (seed 0) in {root}')
    make_demo_hsi_scene(root, seed=1)  # own files: regenerated
    second = _snapshot(root)
    assert second['HSI.mat'] != first['HSI.mat']
    assert second['my_notes.txt'] == b'kept'  # never listed, never touched


def test_interrupted_generation_is_resumed(tmp_path, monkeypatch):
    from m3plugins.demo import hsi_scene
    root = str(tmp_path / 'scene')
    calls = []
    real_savemat = hsi_scene.savemat

    def savemat_killed_on_third_file(path, arrays):
        calls.append(path)
        if len(calls) == 3:
            with open(path, 'wb') as file:
                file.write(b'MATLAB 5.0 partial')
            raise KeyboardInterrupt
        real_savemat(path, arrays)

    monkeypatch.setattr(hsi_scene, 'savemat', savemat_killed_on_third_file)
    with pytest.raises(KeyboardInterrupt):
        make_demo_hsi_scene(root)
    # Two complete files, no partial third one, an incomplete manifest.
    assert sorted(os.listdir(root)) == ['HSI.mat', 'LiDAR.mat',
                                        'demo_manifest.json']
    manifest = json.loads(open(osp.join(root, 'demo_manifest.json')).read())
    assert manifest['complete'] is False
    assert manifest['md5']['TRLabel.mat'] is None
    monkeypatch.setattr(hsi_scene, 'savemat', real_savemat)
    make_demo_hsi_scene(root)
    assert loadmat(osp.join(root, 'TSLabel.mat'))['TSLabel'].shape == \
        DEMO_SCENE_SHAPE


def test_isprs_data_root_with_users_dsm_tile_is_refused(tmp_path):
    root = tmp_path / 'potsdam'
    (root / '1_DSM').mkdir(parents=True)
    tile = root / '1_DSM' / 'dsm_potsdam_02_10.tif'
    tile.write_bytes(b'II*\x00 a real DSM tile')
    with pytest.raises(DemoFolderNotEmptyError) as error_info:
        make_demo_isprs(str(root), tile_size=128)
    assert f'{root}: it holds files that m3plugins did not write' in str(
        error_info.value)
    assert osp.join('1_DSM', 'dsm_potsdam_02_10.tif') in str(
        error_info.value)
    assert _snapshot(str(root)) == {
        osp.join('1_DSM', 'dsm_potsdam_02_10.tif'): b'II*\x00 a real DSM tile'
    }


def test_legacy_manifest_of_this_package_is_recognised(tmp_path):
    """Folders written before the manifest named its generator."""
    root = str(tmp_path / 'scene')
    make_demo_hsi_scene(root, seed=0)
    path = osp.join(root, 'demo_manifest.json')
    manifest = json.loads(open(path).read())
    with open(path, 'w') as file:
        json.dump(dict(version=2, seed=0, md5=manifest['md5']), file)
    make_demo_hsi_scene(root, seed=0)
    assert json.loads(open(path).read())['generator'] == \
        'm3plugins.demo.make_demo_hsi_scene'
