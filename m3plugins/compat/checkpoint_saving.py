"""Write mmengine checkpoints (and every local mmengine file) atomically.

mmengine 0.10.7's ``save_checkpoint`` serialises the checkpoint into memory
and hands the bytes to the file backend; for local paths that is
``LocalBackend.put``, which opens the final name with ``'wb'`` and writes.
A full disk or a kill during that write leaves a truncated ``iter_N.pth`` (or
``last_checkpoint``) that ``--resume`` then picks up and fails on.

:func:`install_atomic_local_backend_writes` makes ``LocalBackend.put`` and
``put_text`` (also used through the deprecated ``HardDiskBackend`` /
``FileClient``) write a temporary file in the same folder and rename it onto
the final name (:mod:`m3plugins.utils.atomic_write`): the final name holds
either the previous file or the complete new one.
"""
from pathlib import Path

__all__ = ['atomic_local_put', 'atomic_local_put_text',
           'install_atomic_local_backend_writes']


def atomic_local_put(backend, obj: bytes, filepath: str | Path) -> None:
    """``LocalBackend.put`` through a temporary file and ``os.replace``.

    Args:
        backend: The ``LocalBackend`` instance (unused; a method's self).
        obj: The bytes to write.
        filepath: The final file; its folder is created if needed.
    """
    from m3plugins.utils.atomic_write import atomic_open
    with atomic_open(filepath, 'wb') as file:
        file.write(obj)


def atomic_local_put_text(backend, obj: str, filepath: str | Path,
                          encoding: str = 'utf-8') -> None:
    """``LocalBackend.put_text`` through a temporary file and ``os.replace``.

    Args:
        backend: The ``LocalBackend`` instance (unused; a method's self).
        obj: The text to write.
        filepath: The final file; its folder is created if needed.
        encoding: Text encoding.
    """
    from m3plugins.utils.atomic_write import atomic_open
    with atomic_open(filepath, 'w',
                     encoding=encoding) as file:
        file.write(obj)


def install_atomic_local_backend_writes() -> None:
    """Replace ``LocalBackend.put`` / ``put_text`` with the atomic ones.

    Idempotent. ``save_checkpoint`` (and so ``CheckpointHook`` and
    ``Runner.save_checkpoint``) writes local checkpoints through them.
    """
    from mmengine.fileio.backends.local_backend import LocalBackend
    LocalBackend.put = atomic_local_put
    LocalBackend.put_text = atomic_local_put_text
