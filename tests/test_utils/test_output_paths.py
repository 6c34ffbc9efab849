"""check_outputs: outputs never replace inputs or files the user has."""
import os

import pytest

from m3plugins.utils.output_paths import OutputOverwriteError, check_outputs
from m3plugins.utils.user_errors import describe_user_error


def _touch(path, text='user data'):
    path.write_text(text)
    return path


def test_new_outputs_pass(tmp_path):
    source = _touch(tmp_path / 'in.tif')
    check_outputs({tmp_path / 'out.tif': '--out'}, {source: 'input'},
                  folders={tmp_path / 'new_folder': '--show-dir'})


def test_existing_file_needs_overwrite(tmp_path):
    notes = _touch(tmp_path / 'notes.png')
    with pytest.raises(OutputOverwriteError,
                       match=r'notes\.png \(preview\) already exists; pass '
                       r'--overwrite'):
        check_outputs({notes: 'preview'})
    check_outputs({notes: 'preview'}, overwrite=True)
    assert notes.read_text() == 'user data'


def test_an_input_is_refused_even_with_overwrite(tmp_path):
    source = _touch(tmp_path / 'top.tif')
    with pytest.raises(OutputOverwriteError,
                       match=r'top\.tif \(--out\) is the input --modality '
                       r'optical; .*never replaces an input'):
        check_outputs({source: '--out'}, {source: '--modality optical'},
                      overwrite=True)


@pytest.mark.parametrize('link', ['symlink', 'hardlink'])
def test_links_to_an_input_are_the_input(tmp_path, link):
    source = _touch(tmp_path / 'top.tif')
    alias = tmp_path / 'alias.tif'
    (os.symlink if link == 'symlink' else os.link)(source, alias)
    with pytest.raises(OutputOverwriteError,
                       match=r'alias\.tif \(--out\) is the input dsm .*'
                       r'top\.tif, the same file through a link'):
        check_outputs({alias: '--out'}, {source: 'dsm'}, overwrite=True)


def test_symlinked_folder_reaches_the_input(tmp_path):
    data = tmp_path / 'data'
    data.mkdir()
    _touch(data / 'top.tif')
    os.symlink(data, tmp_path / 'linked')
    with pytest.raises(OutputOverwriteError, match='is the input'):
        check_outputs([tmp_path / 'linked' / 'top.tif'],
                      [data / 'top.tif'], overwrite=True)


def test_two_outputs_on_one_file(tmp_path):
    with pytest.raises(OutputOverwriteError,
                       match=r'map\.png \(PNG preview\) is also .*map\.png '
                       r'\(--out\); one run cannot write both'):
        check_outputs({str(tmp_path / 'map.png'): '--out',
                       os.path.join(tmp_path, '.', 'map.png'): 'PNG preview'})


def test_folder_rules(tmp_path):
    data = tmp_path / 'data'
    data.mkdir()
    config = _touch(tmp_path / 'cfg.py')
    with pytest.raises(OutputOverwriteError,
                       match=r'data \(--out\) is the data root'):
        check_outputs(folders={data: '--out'},
                      input_folders={data: 'the data root'}, overwrite=True)
    with pytest.raises(OutputOverwriteError,
                       match=r'is the folder of config'):
        check_outputs(folders={tmp_path: '--show-dir'},
                      inputs={config: 'config'}, overwrite=True)
    vis = tmp_path / 'vis'
    vis.mkdir()
    _touch(vis / 'old.png')
    with pytest.raises(OutputOverwriteError,
                       match=r'vis \(--show-dir\) is not empty \(old\.png\)'):
        check_outputs(folders={vis: '--show-dir'})
    check_outputs(folders={vis: '--show-dir'}, overwrite=True)
    with pytest.raises(OutputOverwriteError, match='is an existing file, '
                       'not a folder'):
        check_outputs(folders={config: '--out'}, overwrite=True)
    with pytest.raises(OutputOverwriteError, match='is an existing folder'):
        check_outputs({vis: '--out'}, overwrite=True)


def test_many_problems_are_counted(tmp_path):
    paths = [_touch(tmp_path / f'{k}.png') for k in range(8)]
    with pytest.raises(OutputOverwriteError,
                       match=r'and 3 more output\(s\)') as info:
        check_outputs(paths)
    assert str(info.value).count('already exists') == 5


def test_is_a_user_error_with_its_headline(tmp_path):
    message = describe_user_error(OutputOverwriteError('x exists'))
    assert message == 'Output would overwrite a file.\nx exists'
