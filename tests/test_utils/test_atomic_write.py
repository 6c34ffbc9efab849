"""A failed write leaves the final name as it was, and no temporary file."""
import errno
import os

import numpy as np
import pytest

import m3plugins  # noqa: F401  (installs the atomic mmengine writes)
from m3plugins.utils import atomic_write
from m3plugins.utils.atomic_write import (
    atomic_open,
    atomic_write_bytes,
    atomic_write_path,
    is_atomic_write_temp,
)

PREVIOUS = b'previous complete content'


class _DiskFullWriter:
    """A file whose ``write`` stores half of the data, then fails (ENOSPC)."""

    def __init__(self, file):
        self._file = file

    def write(self, data):
        self._file.write(data[:max(1, len(data) // 2)])
        self._file.flush()
        raise OSError(errno.ENOSPC, 'No space left on device (simulated)')

    def __getattr__(self, name):
        return getattr(self._file, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._file.close()


@pytest.fixture
def disk_full_after_some_bytes(monkeypatch):
    """Files opened by m3plugins.utils.atomic_write fill up halfway."""
    real_open = open

    def failing_open(path, mode='r', *args, **kwargs):
        return _DiskFullWriter(real_open(path, mode, *args, **kwargs))

    monkeypatch.setattr(atomic_write, 'open', failing_open, raising=False)


def _leftovers(folder):
    return sorted(n for n in os.listdir(folder) if is_atomic_write_temp(n))


def test_success_replaces_and_keeps_permissions(tmp_path):
    path = tmp_path / 'out.bin'
    path.write_bytes(PREVIOUS)
    os.chmod(path, 0o640)
    atomic_write_bytes(path, b'new')
    assert path.read_bytes() == b'new'
    assert oct(path.stat().st_mode & 0o777) == oct(0o640)
    assert _leftovers(tmp_path) == []


def test_temp_keeps_the_extension_for_np_save(tmp_path):
    path = tmp_path / 'map.npy'
    with atomic_write_path(path) as temp_path:
        assert temp_path.endswith('.npy') and os.path.dirname(
            temp_path) == str(tmp_path)
        np.save(temp_path, np.arange(3))
    np.testing.assert_array_equal(np.load(path), np.arange(3))
    assert sorted(os.listdir(tmp_path)) == ['map.npy']


@pytest.mark.parametrize('existed', [True, False])
def test_failure_midway_keeps_previous_or_nothing(tmp_path, existed,
                                                  disk_full_after_some_bytes):
    path = tmp_path / 'report.json'
    if existed:
        path.write_bytes(PREVIOUS)
    with pytest.raises(OSError, match='No space left'):
        with atomic_open(path, 'wb') as file:
            file.write(b'{"a": 1, "b": 2}' * 100)
    if existed:
        assert path.read_bytes() == PREVIOUS
    else:
        assert not path.exists()
    assert _leftovers(tmp_path) == []


def test_exception_in_block_deletes_temp(tmp_path):
    path = tmp_path / 'grid.tif'
    with pytest.raises(KeyboardInterrupt):
        with atomic_write_path(path) as temp_path:
            with open(temp_path, 'wb') as file:
                file.write(b'II*\x00partial')
            raise KeyboardInterrupt
    assert os.listdir(tmp_path) == []


def test_atomic_open_refuses_append_mode(tmp_path):
    with pytest.raises(ValueError, match="mode must start with 'w'"):
        with atomic_open(tmp_path / 'log.txt', 'a'):
            pass


@pytest.mark.parametrize('georeferenced', [False, True])
def test_save_class_map_failure_leaves_no_partial_map(tmp_path, monkeypatch,
                                                      georeferenced):
    from m3plugins.io import class_map_writing as class_maps
    prefix = str(tmp_path / 'scene')
    suffix = '.tif' if georeferenced else '.npy'
    georeference = None
    if georeferenced:
        from rasterio.transform import from_origin
        georeference = dict(transform=from_origin(0, 10, 1, 1),
                            crs='EPSG:32633')
    class_map = np.random.default_rng(0).integers(1, 4, (10, 12))
    palette = [(255, 0, 0), (0, 255, 0), (0, 0, 255)]
    written = class_maps.save_class_map(class_map, prefix, ['a', 'b', 'c'],
                                        palette, georeference=georeference)
    assert written['map'].endswith(suffix)
    previous_map = (tmp_path / f'scene{suffix}').read_bytes()

    import rasterio

    def write_some_then_fail(path, *args, **kwargs):
        with open(path, 'wb') as file:
            file.write(b'\x93NUMPY partial' if path.endswith('.npy')
                       else b'II*\x00partial')
        raise OSError(errno.ENOSPC, 'No space left on device (simulated)')

    if georeferenced:
        monkeypatch.setattr(rasterio, 'open', write_some_then_fail)
    else:
        monkeypatch.setattr(class_maps.np, 'save', write_some_then_fail)
    with pytest.raises(OSError, match='No space left'):
        class_maps.save_class_map(class_map + 1, prefix, ['a', 'b', 'c', 'd'],
                                  [(1, 1, 1)] * 4, georeference=georeference)
    # The map keeps its previous content; the PNG, written before the
    # failure, is a complete new image (each file is replaced atomically).
    assert (tmp_path / f'scene{suffix}').read_bytes() == previous_map
    from PIL import Image
    with Image.open(tmp_path / 'scene.png') as preview:
        preview.load()
    assert _leftovers(tmp_path) == []
    assert sorted(os.listdir(tmp_path)) == sorted(['scene.png',
                                                   f'scene{suffix}'])


def test_scene_map_writer_commits_on_close_and_aborts_on_error(tmp_path):
    import rasterio

    from m3plugins.io.class_map_writing import SceneMapWriter
    class_map = tmp_path / 'out' / 'map.tif'
    probabilities = tmp_path / 'out' / 'prob.tif'
    logits = np.random.default_rng(0).normal(size=(3, 4, 6)).astype(
        np.float32)
    with SceneMapWriter(str(class_map), 8, 6, 3,
                        probabilities_path=str(probabilities)) as writer:
        writer.write_rows(0, logits)
        # Nothing under the output names until the writer is closed.
        assert not class_map.exists() and not probabilities.exists()
        writer.write_rows(4, logits)
    with rasterio.open(class_map) as src:
        expected = np.concatenate([logits.argmax(0)] * 2)
        np.testing.assert_array_equal(src.read(1), expected)
    previous = {p: p.read_bytes() for p in (class_map, probabilities)}

    with pytest.raises(RuntimeError, match='killed midway'):
        with SceneMapWriter(str(class_map), 8, 6, 3,
                            probabilities_path=str(probabilities)) as writer:
            writer.write_rows(0, -logits)
            raise RuntimeError('killed midway')
    for path, content in previous.items():
        assert path.read_bytes() == content
    assert sorted(os.listdir(tmp_path / 'out')) == ['map.tif', 'prob.tif']
