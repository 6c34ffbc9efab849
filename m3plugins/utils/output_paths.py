"""Refuse outputs that would replace an input or a file the user already has.

Every tool that writes files (``tools/infer.py``, ``tools/test.py
--out/--show-dir``, the dataset converter, the benchmarks) names its planned
outputs and its inputs to :func:`check_outputs` before it builds a model or
reads data. An output is refused with :class:`OutputOverwriteError`, naming
the file, when it

* is one of the inputs: the same file, also through a symbolic or hard
  link (:func:`os.path.samefile`; paths that do not exist yet are compared
  after :func:`os.path.realpath`). ``--overwrite`` never allows this;
* is the same file as another planned output (``--out x.png`` would be
  both the class map and its PNG preview);
* is an existing folder where a file goes, or an existing file where a
  folder goes;
* already exists (a file), or is a folder that is not empty, unless the
  tool was given ``--overwrite``;
* is an output folder that is itself an input folder, or the folder that
  holds an input file (files written there by name could replace the
  inputs). ``--overwrite`` never allows this either.

Example:
    >>> check_outputs(
    ...     files={'maps/a.tif': '--out', 'maps/a.png': 'preview of --out'},
    ...     inputs={'top.tif': '--modality optical'})
"""
import os
import os.path as osp
from collections.abc import Iterable, Mapping
from typing import Union

__all__ = ['OutputOverwriteError', 'check_outputs']

PathLike = Union[str, 'os.PathLike[str]']
Labelled = (Mapping[PathLike, str] | Iterable[tuple[PathLike, str]]
            | Iterable[PathLike])

#: Problems listed in one message; the rest are counted.
_MAX_LISTED = 5


class OutputOverwriteError(ValueError):
    """A planned output would replace an input or an existing file.

    The message names each refused path, what it is, and how to proceed
    (another output path, or ``--overwrite`` where that is allowed).
    """


def _pairs(paths: Labelled | None, default: str) -> list[tuple[str, str]]:
    """``(path, label)`` pairs, repeats kept, from any :data:`Labelled`."""
    if paths is None:
        return []
    if isinstance(paths, Mapping):
        paths = paths.items()
    return [(os.fspath(item[0]), item[1]) if isinstance(item, tuple) else
            (os.fspath(item), default) for item in paths]


def _labelled(paths: Labelled | None, default: str) -> dict[str, str]:
    """Path -> label (the first label of a repeated path)."""
    labelled: dict[str, str] = {}
    for path, label in _pairs(paths, default):
        labelled.setdefault(path, label)
    return labelled


def _identity(path: str) -> tuple:
    """What a path names, so that links to one file compare equal.

    Its device and inode when it exists (symbolic and hard links agree, as
    in :func:`os.path.samefile`), else its resolved path.
    """
    try:
        status = os.stat(path)
    except OSError:  # not there (yet)
        return ('path', osp.realpath(path))
    return ('inode', status.st_dev, status.st_ino)


def _identities(paths: dict[str, str]) -> dict[tuple, str]:
    """Identity -> the first path (of ``paths``) that has it."""
    found: dict[tuple, str] = {}
    for path in paths:
        found.setdefault(_identity(path), path)
    return found


def _named(path: str, label: str) -> str:
    return f'{path} ({label})' if label else path


def _file_problem(path: str, label: str, inputs: dict[str, str],
                  input_ids: dict[tuple, str],
                  overwrite: bool) -> str | None:
    """Why the output file ``path`` may not be written, or None."""
    source = input_ids.get(_identity(path))
    if source is not None:
        how = '' if osp.abspath(path) == osp.abspath(source) else \
            f' ({source}, the same file through a link)'
        return (f'{_named(path, label)} is the input '
                f'{inputs[source] or source}{how}; choose another output '
                'path (--overwrite never replaces an input).')
    if osp.isdir(path):
        return (f'{_named(path, label)} is an existing folder; name a file '
                'to write.')
    if osp.lexists(path) and not overwrite:
        return (f'{_named(path, label)} already exists; pass --overwrite to '
                'replace it, or choose another output path.')
    return None


def _folder_problem(folder: str, label: str, inputs: dict[str, str],
                    input_folders: dict[str, str],
                    overwrite: bool) -> str | None:
    """Why the output folder ``folder`` may not be written into, or None."""
    if osp.lexists(folder) and not osp.isdir(folder):
        return (f'{_named(folder, label)} is an existing file, not a '
                'folder; choose a folder to write into.')
    holders = dict(input_folders)
    for source, source_label in inputs.items():
        holders.setdefault(osp.dirname(osp.abspath(source)),
                           f'the folder of {source_label or source}')
    holder = _identities(holders).get(_identity(folder))
    if holder is not None:
        holder_label = holders[holder]
        return (f'{_named(folder, label)} is {holder_label or holder} '
                f'({holder}); files written there could replace the '
                'inputs. Choose another (empty or new) folder.')
    if osp.isdir(folder) and not overwrite:
        entries = sorted(os.listdir(folder))
        if entries:
            shown = ', '.join(entries[:3]) + (', ...'
                                              if len(entries) > 3 else '')
            return (f'{_named(folder, label)} is not empty ({shown}); '
                    'pass --overwrite to write into it anyway, or choose '
                    'a new folder.')
    return None


def check_outputs(files: Labelled | None = None,
                  inputs: Labelled | None = None,
                  *,
                  folders: Labelled | None = None,
                  input_folders: Labelled | None = None,
                  overwrite: bool = False) -> None:
    """Refuse planned outputs that would replace inputs or existing files.

    Call it before any work, with every file the tool will write.

    Args:
        files: Output files, as a mapping path -> label (how the user named
            it, e.g. ``'--out'`` or ``'PNG preview of --out'``), an
            iterable of ``(path, label)`` pairs (a path may repeat: it is
            then refused) or a plain iterable of paths.
        inputs: Input files, in the same form (e.g. ``'--modality dsm'``).
        folders: Output folders the tool writes files into by names of its
            own choosing (``tools/test.py --show-dir``).
        input_folders: Folders the inputs are read from (a data root); an
            output folder may not be one of them.
        overwrite: Allow replacing existing output files and writing into
            non-empty output folders (never an input).

    Raises:
        OutputOverwriteError: Naming every refused path (the first few,
            and how many more).
    """
    inputs = _labelled(inputs, '')
    input_ids = _identities(inputs)
    problems = []
    seen: dict[tuple, tuple[str, str]] = {}
    for path, label in _pairs(files, 'output'):
        identity = _identity(path)
        if identity in seen:
            problems.append(
                f'{_named(path, label)} is also {_named(*seen[identity])}; '
                'one run cannot write both to one file. Choose another '
                'output path.')
            continue
        seen[identity] = (path, label)
        problem = _file_problem(path, label, inputs, input_ids, overwrite)
        if problem is not None:
            problems.append(problem)
    input_folders = _labelled(input_folders, 'an input folder')
    for folder, label in _labelled(folders, 'output folder').items():
        problem = _folder_problem(folder, label, inputs, input_folders,
                                  overwrite)
        if problem is not None:
            problems.append(problem)
    if problems:
        more = len(problems) - _MAX_LISTED
        listed = problems[:_MAX_LISTED] + (
            [f'... and {more} more output(s) like these.'] if more > 0 else [])
        raise OutputOverwriteError('\n'.join(listed))
