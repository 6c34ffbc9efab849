"""Where demo data may be written: never over files m3plugins did not write.

The demo configs point at relative folders (``data/m3plugins_demo/...``) and
a user may point them anywhere (``scene.root``, ``data_root``). A demo
generator writes only into

* a folder that does not exist or holds no files, or
* a folder with a manifest this package wrote (``demo_manifest.json`` with
  this generator's name), and then replaces only files the manifest lists
  (a damaged or stale demo file is regenerated; a file of the same name
  that the manifest does not list is never replaced).

Anything else raises :class:`DemoFolderNotEmptyError` before a single byte is
written, naming the folder and the files that would have been overwritten.
The manifest is written *before* the first data file and updated after each
one (every file goes through :mod:`m3plugins.utils.atomic_write`), so an
interrupted generation is recognised and resumed on the next run. The
absolute folder is logged on every write and every reuse, so a demo config
run from another working directory says where its ``data/`` went.
"""
import hashlib
import json
import os
import os.path as osp
from collections.abc import Callable, Sequence

from mmengine.logging import print_log

from m3plugins.utils.atomic_write import atomic_open, atomic_write_path

__all__ = [
    'DEMO_MANIFEST', 'DemoFolderNotEmptyError', 'DemoFolderWriter',
    'demo_files_are_current', 'file_md5', 'log_demo_reuse',
    'read_demo_manifest'
]

#: Name of the manifest a demo generator writes into its folder.
DEMO_MANIFEST = 'demo_manifest.json'
_NAMED_AT_MOST = 8
# Manifests of m3plugins <= 0.1 had no generator entry; they are recognised
# by their exact structure (the generator's settings plus the md5 table).
_LEGACY_KEYS = frozenset({'version', 'seed', 'tile_size', 'tiles', 'md5'})


class DemoFolderNotEmptyError(FileExistsError):
    """A demo generator was pointed at a folder with someone else's files."""


def file_md5(path: str) -> str:
    """md5 hex digest of a file, read in 1 MiB blocks."""
    digest = hashlib.md5()
    with open(path, 'rb') as file:
        for block in iter(lambda: file.read(2**20), b''):
            digest.update(block)
    return digest.hexdigest()


def _is_md5_table(value) -> bool:
    return isinstance(value, dict) and all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items())


def read_demo_manifest(root: str, generator: str) -> dict | None:
    """The manifest ``generator`` wrote into ``root``, or None.

    Args:
        root: The demo folder.
        generator: The generator's dotted name.

    Returns:
        dict or None: The manifest (``generator``, ``m3plugins_version``,
        ``settings``, ``complete``, ``md5``: file name -> md5, None while
        not yet written), or None if ``root`` has no manifest of this
        generator.
        A manifest of an earlier m3plugins version is returned in this form
        with ``legacy=True``.
    """
    path = osp.join(root, DEMO_MANIFEST)
    try:
        with open(path) as file:
            recorded = json.load(file)
    except (OSError, ValueError):
        return None
    if not isinstance(recorded, dict):
        return None
    if recorded.get('generator') == generator and isinstance(
            recorded.get('md5'), dict):
        return recorded
    if ('generator' not in recorded and 'md5' in recorded
            and set(recorded) <= _LEGACY_KEYS
            and _is_md5_table(recorded['md5'])):
        settings = {k: v for k, v in recorded.items() if k != 'md5'}
        return dict(generator=generator, settings=settings, complete=True,
                    md5=dict(recorded['md5']), legacy=True)
    return None


def demo_files_are_current(root: str, generator: str, settings: dict,
                           files: Sequence[str]) -> bool:
    """Whether ``root`` holds exactly what ``generator`` would write now.

    Args:
        root: The demo folder.
        generator: The generator's dotted name.
        settings: The generator's arguments and format version.
        files: The file names (relative to ``root``) it writes.

    Returns:
        bool: True if the manifest is complete, has these settings and
        files, and every file still has its recorded md5.
    """
    manifest = read_demo_manifest(root, generator)
    if (manifest is None or manifest.get('legacy')
            or not manifest.get('complete')
            or manifest.get('settings') != settings
            or set(manifest['md5']) != set(files)):
        return False
    return all(
        osp.isfile(osp.join(root, name))
        and file_md5(osp.join(root, name)) == digest
        for name, digest in manifest['md5'].items())


def _some_files_below(root: str, at_most: int) -> list[str]:
    """Up to ``at_most`` files below ``root`` (stops walking there)."""
    found = []
    for folder, _, names in os.walk(root):
        for name in sorted(names):
            found.append(osp.relpath(osp.join(folder, name), root))
            if len(found) >= at_most:
                return found
    return found


def _name_some(names: Sequence[str]) -> str:
    shown = ', '.join(names[:_NAMED_AT_MOST])
    more = len(names) - _NAMED_AT_MOST
    return shown + (f' and {more} more' if more > 0 else '')


def _check_folder(root: str, generator: str, files: Sequence[str]) -> None:
    """Raise unless ``generator`` may write ``files`` into ``root``."""
    if not osp.exists(root):
        return
    if not osp.isdir(root):
        raise NotADirectoryError(
            f'The demo data folder {root} is a file; point the demo at a '
            'new or empty folder.')
    present = _some_files_below(root, _NAMED_AT_MOST)
    if not present:
        return
    manifest = read_demo_manifest(root, generator)
    existing = [
        name for name in (*files, DEMO_MANIFEST)
        if osp.exists(osp.join(root, name))
    ]
    if manifest is None:
        if existing:
            problem = (f'it holds files that m3plugins did not write (no '
                       f'{DEMO_MANIFEST} of {generator}), and the demo would '
                       f'overwrite {_name_some(existing)}')
        else:
            listed = ', '.join(present) + (
                ', ...' if len(present) == _NAMED_AT_MOST else '')
            problem = (f'it is not empty and holds no {DEMO_MANIFEST} of '
                       f'{generator} (it holds {listed})')
    else:
        recorded = manifest['md5']
        foreign = [
            name for name in existing
            if name != DEMO_MANIFEST and name not in recorded
        ]
        if not foreign:
            return
        problem = ('the demo would overwrite files that its manifest does '
                   f'not list as written by m3plugins: {_name_some(foreign)}')
    raise DemoFolderNotEmptyError(
        f'Refusing to write demo data into {root}: {problem}. Nothing was '
        'written. Point the demo at a new or empty folder (the demo '
        "configs' data root, or `scene.root` / `data_root` in your "
        'config), or move these files away.')


class DemoFolderWriter:
    """Writes a demo data set's files into a folder it may write.

    Construction checks the folder (see the module docstring), logs its
    absolute path and writes an incomplete manifest listing ``files``;
    :meth:`write` writes one file atomically and records its md5;
    :meth:`finish` marks the manifest complete.

    Args:
        root: The demo folder (created if missing).
        generator: The generator's dotted name (recorded in the manifest).
        settings: The generator's arguments and format version.
        files: Every file name (relative to ``root``) it will write.
        description: What is written, for the log line.

    Raises:
        DemoFolderNotEmptyError: If ``root`` holds files this generator did
            not write, or would overwrite one; nothing is written then.
        NotADirectoryError: If ``root`` is a file.
    """

    def __init__(self, root: str, generator: str, settings: dict,
                 files: Sequence[str], description: str) -> None:
        from m3plugins.version import __version__
        self.root = osp.abspath(os.fspath(root))
        _check_folder(self.root, generator, files)
        print_log(f'm3plugins demo: writing {description} to {self.root}',
                  logger='current')
        os.makedirs(self.root, exist_ok=True)
        self.manifest = dict(
            generator=generator,
            m3plugins_version=__version__,
            settings=settings,
            complete=False,
            md5={name: None
                 for name in files})
        self._save_manifest()

    def _save_manifest(self) -> None:
        with atomic_open(osp.join(self.root, DEMO_MANIFEST), 'w') as file:
            json.dump(self.manifest, file, indent=1)

    def write(self, name: str, write_to: Callable[[str], None]) -> None:
        """Write ``root/name`` through ``write_to(temporary_path)``.

        Args:
            name: A file name given to the constructor.
            write_to: Writes the complete file to the path it is given
                (which keeps ``name``'s extension).

        Raises:
            KeyError: If ``name`` was not announced in ``files``.
        """
        if name not in self.manifest['md5']:
            raise KeyError(f'{name} is not among the files announced for '
                           f'{self.root}.')
        path = osp.join(self.root, name)
        with atomic_write_path(path) as temp_path:
            write_to(temp_path)
        self.manifest['md5'][name] = file_md5(path)
        self._save_manifest()

    def finish(self) -> dict[str, str]:
        """Mark the manifest complete.

        Returns:
            dict: File name -> md5 of everything written.

        Raises:
            RuntimeError: If an announced file was not written.
        """
        unwritten = [n for n, d in self.manifest['md5'].items() if d is None]
        if unwritten:
            raise RuntimeError(f'Demo files never written into {self.root}: '
                               f'{_name_some(unwritten)}.')
        self.manifest['complete'] = True
        self._save_manifest()
        return dict(self.manifest['md5'])


def log_demo_reuse(root: str, description: str) -> None:
    """Log that valid demo data in ``root`` is used as it is."""
    print_log(f'm3plugins demo: using {description} in '
              f'{osp.abspath(os.fspath(root))} (already generated)',
              logger='current')
