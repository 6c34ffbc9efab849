"""Write files so that their final name never holds a truncated file.

Every file this package writes (checkpoints through mmengine, class maps,
GeoTIFFs, previews, demo data, metric reports) goes through
:func:`atomic_write_path`: the writer fills a temporary file in the same
folder, and only a complete file is renamed onto the final name with
:func:`os.replace` (atomic on POSIX and Windows within one file system). A
full disk, an exception or a kill in the middle of a write leaves the final
name as it was before (the previous file, or nothing); the temporary file is
deleted on an exception (a kill can leave a hidden ``.NAME.*.tmp.EXT`` file,
never a truncated ``NAME.EXT``).
"""
import os
import os.path as osp
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO, Union

__all__ = [
    'atomic_write_path', 'atomic_open', 'atomic_write_bytes',
    'is_atomic_write_temp', 'reserve_temp_path', 'commit_temp_path',
    'discard_temp_path'
]

PathLike = Union[str, 'os.PathLike[str]']

_TEMP_MARK = '.tmp'


def _new_file_mode(final_path: str) -> int:
    """Permission bits the final file would get from a plain ``open``."""
    try:
        return os.stat(final_path).st_mode & 0o7777
    except FileNotFoundError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


def is_atomic_write_temp(name: str) -> bool:
    """Whether a file name is one of :func:`atomic_write_path`'s temporaries.

    Args:
        name: A file name (not a path).

    Returns:
        bool: True for ``.STEM.<random>.tmp.EXT`` names.
    """
    stem, ext = osp.splitext(name)
    return name.startswith('.') and (stem.endswith(_TEMP_MARK)
                                     or ext == _TEMP_MARK)


def reserve_temp_path(path: PathLike) -> str:
    """Create an empty temporary file next to ``path`` for writing it.

    The temporary file lies in ``path``'s folder (created if needed), so the
    rename is atomic, and keeps its extension, so writers that pick a format
    or append a suffix by extension (``np.save``, matplotlib, GDAL) behave as
    with the final name. Hand it to :func:`commit_temp_path` or
    :func:`discard_temp_path`.

    Args:
        path: The final file name.

    Returns:
        str: The temporary file, ``.STEM.<random>.tmp.EXT``.
    """
    final_path = os.fspath(path)
    folder = osp.dirname(osp.abspath(final_path))
    os.makedirs(folder, exist_ok=True)
    stem, ext = osp.splitext(osp.basename(final_path))
    handle, temp_path = tempfile.mkstemp(
        prefix=f'.{stem}.', suffix=f'{_TEMP_MARK}{ext}', dir=folder)
    os.close(handle)
    return temp_path


def commit_temp_path(temp_path: str, path: PathLike,
                     durable: bool = True) -> None:
    """Rename a complete temporary file onto ``path`` (``os.replace``).

    Args:
        temp_path: From :func:`reserve_temp_path`, fully written and closed.
        path: The final file name; a previous file there is replaced.
        durable: Flush the temporary file to disk (``fsync``) first, so that
            a power loss cannot leave an empty file under the final name.
    """
    final_path = os.fspath(path)
    os.chmod(temp_path, _new_file_mode(final_path))
    if durable:
        with open(temp_path, 'rb') as written:
            os.fsync(written.fileno())
    os.replace(temp_path, final_path)


def discard_temp_path(temp_path: str) -> None:
    """Delete a temporary file (no error if it is already gone)."""
    try:
        os.remove(temp_path)
    except FileNotFoundError:
        pass


@contextmanager
def atomic_write_path(path: PathLike, durable: bool = True) -> Iterator[str]:
    """Yield a temporary path that replaces ``path`` if the block succeeds.

    Args:
        path: The final file name.
        durable: See :func:`commit_temp_path`.

    Yields:
        str: The temporary file to write (see :func:`reserve_temp_path`).

    Raises:
        Whatever the block raises; the temporary file is deleted first and
        ``path`` is untouched.
    """
    temp_path = reserve_temp_path(path)
    try:
        yield temp_path
        commit_temp_path(temp_path, path, durable)
    except BaseException:
        discard_temp_path(temp_path)
        raise


@contextmanager
def atomic_open(path: PathLike, mode: str = 'w', durable: bool = True,
                **open_kwargs) -> Iterator[IO]:
    """``open(path, mode)`` for writing, replacing ``path`` only on success.

    Args:
        path: The final file name.
        mode: ``'w'`` or ``'wb'`` (or with ``'+'``).
        durable: See :func:`commit_temp_path`.
        **open_kwargs: Passed to :func:`open` (``encoding``, ...).

    Yields:
        The open temporary file.

    Raises:
        ValueError: For a mode that does not write a whole new file.
    """
    if not mode.startswith('w'):
        raise ValueError(f"atomic_open writes whole files: mode must start "
                         f"with 'w', got {mode!r} for {os.fspath(path)}.")
    with atomic_write_path(path, durable=durable) as temp_path:
        with open(temp_path, mode, **open_kwargs) as file:
            yield file


def atomic_write_bytes(path: PathLike, data: bytes,
                       durable: bool = True) -> None:
    """Write ``data`` to ``path`` through a temporary file and a rename.

    Args:
        path: The final file name.
        data: The whole content.
        durable: See :func:`commit_temp_path`.
    """
    with atomic_open(path, 'wb', durable=durable) as file:
        file.write(data)
