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
from contextlib import contextmanager
from typing import IO, Iterator, Union

__all__ = ['atomic_write_path', 'atomic_open', 'atomic_write_bytes',
           'is_atomic_write_temp']

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


@contextmanager
def atomic_write_path(path: PathLike, durable: bool = True) -> Iterator[str]:
    """Yield a temporary path that replaces ``path`` if the block succeeds.

    The temporary file is created (empty) in ``path``'s folder, with the same
    extension, so writers that pick a format or append a suffix by extension
    (``np.save``, matplotlib, GDAL) behave as with the final name. The folder
    is created if needed.

    Args:
        path: The final file name.
        durable: Flush the temporary file to disk (``fsync``) before the
            rename, so that a power loss cannot leave an empty file under
            the final name either.

    Yields:
        str: The temporary file to write.

    Raises:
        Whatever the block raises; the temporary file is deleted first and
        ``path`` is untouched.
    """
    final_path = os.fspath(path)
    folder = osp.dirname(osp.abspath(final_path))
    os.makedirs(folder, exist_ok=True)
    stem, ext = osp.splitext(osp.basename(final_path))
    handle, temp_path = tempfile.mkstemp(
        prefix=f'.{stem}.', suffix=f'{_TEMP_MARK}{ext}', dir=folder)
    os.close(handle)
    try:
        yield temp_path
        os.chmod(temp_path, _new_file_mode(final_path))
        if durable:
            with open(temp_path, 'rb') as written:
                os.fsync(written.fileno())
        os.replace(temp_path, final_path)
    except BaseException:
        try:
            os.remove(temp_path)
        except FileNotFoundError:
            pass
        raise


@contextmanager
def atomic_open(path: PathLike, mode: str = 'w', durable: bool = True,
                **open_kwargs) -> Iterator[IO]:
    """``open(path, mode)`` for writing, replacing ``path`` only on success.

    Args:
        path: The final file name.
        mode: ``'w'`` or ``'wb'`` (or with ``'+'``).
        durable: See :func:`atomic_write_path`.
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
        durable: See :func:`atomic_write_path`.
    """
    with atomic_open(path, 'wb', durable=durable) as file:
        file.write(data)
