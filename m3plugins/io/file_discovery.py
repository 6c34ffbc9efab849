"""Find a dataset's files among accepted layouts; report what is missing.

Both dataset families (HSI scenes, ISPRS tiles and clips) describe each file
they need as an *item* (``'lidar'``, ``'tile 6_7 DSM'``) with the paths it
may have, the first being the documented layout. :func:`locate_files` finds
each item's first existing path; whatever is missing becomes one
:class:`MissingDataError` whose message is built by
:func:`missing_data_report`, always in the same shape::

    <Dataset> not found in root='<root>' (<absolute root>): <summary>.
    Missing files (the first name is the expected layout, the others are
    also accepted):
      <item>: <path> or <path>
      ... and <n> more.
    <where and how to get the data>
    Expected layout:
      <one line per file or folder>
    Fix: <what to do>

Example:
    >>> found, missing = locate_files({'hsi': ['HSI.mat', 'CASI.tif']})
    >>> if missing:
    ...     raise MissingDataError(missing_data_report(
    ...         'Houston2013', 'data', missing, obtain=['Get it from ...'],
    ...         layout=['HSI.mat (key HSI)'], fix='put the files in root.'),
    ...         missing=list(missing))
"""
import os
import os.path as osp
from collections.abc import Mapping, Sequence

from torchgeo.datasets import DatasetNotFoundError

__all__ = [
    'MAX_LISTED_MISSING', 'MissingDataError', 'find_first_file',
    'locate_files', 'missing_data_report'
]

#: How many missing items a report lists before summarising the rest.
MAX_LISTED_MISSING = 8


class MissingDataError(DatasetNotFoundError):
    """Files of a dataset are missing; the message says what to get, where.

    A :class:`torchgeo.datasets.DatasetNotFoundError` (and so a
    ``FileNotFoundError``: the command-line tools print it and exit with
    status 2). TorchGeo's class builds a generic message from a dataset
    object, suggesting ``download=True`` even where nothing can be
    downloaded; this one carries the complete report instead. It can be
    rebuilt from its message alone, as mmengine's registry does when it
    re-raises an error (``type(err)(f'class ...: {err}')``), and it survives
    pickling (the missing items included).

    Args:
        message: The full report (see :func:`missing_data_report`).
        missing: The missing items, for programs.
    """

    def __init__(self, message: str, missing: Sequence[str] = ()) -> None:
        FileNotFoundError.__init__(self, message)
        self.missing = list(missing)

    def __reduce__(self):
        return type(self), (self.args[0], self.missing)

    def __str__(self) -> str:
        return self.args[0]


def find_first_file(candidates: Sequence[str]) -> str | None:
    """The first of ``candidates`` that is an existing file.

    Args:
        candidates: Accepted paths, in order of preference.

    Returns:
        str or None: That path, None when none exists.
    """
    return next((path for path in candidates if osp.isfile(path)), None)


def locate_files(
    expected: Mapping[str, Sequence[str]]
) -> tuple[dict[str, str], dict[str, list[str]]]:
    """Find each expected item's file among its accepted paths.

    Args:
        expected: Item -> accepted paths, the documented layout first.

    Returns:
        tuple[dict[str, str], dict[str, list[str]]]: ``found`` (item -> the
        first existing path) and ``missing`` (item -> its accepted paths),
        both in the order of ``expected``.
    """
    found: dict[str, str] = {}
    missing: dict[str, list[str]] = {}
    for item, candidates in expected.items():
        path = find_first_file(candidates)
        if path is None:
            missing[item] = list(candidates)
        else:
            found[item] = path
    return found, missing


def missing_data_report(dataset: str,
                        root: str | os.PathLike | None,
                        missing: Mapping[str, Sequence[str]],
                        obtain: Sequence[str],
                        layout: Sequence[str],
                        fix: str,
                        summary: str | None = None,
                        max_listed: int = MAX_LISTED_MISSING) -> str:
    """Write the one missing-data report of the package (see module doc).

    Args:
        dataset: What is missing, e.g. ``'Houston2013'`` or ``'ISPRS
            Potsdam (RGB + DSM, noBoundary labels)'``.
        root: The folder the files were looked for in (None: not one
            folder).
        missing: Item -> accepted paths or names, the expected one first.
        obtain: Lines saying where and how to get the data.
        layout: Lines of the expected layout (files or folders).
        fix: What to do, one or more sentences.
        summary: How much is missing, in words; default ``'<n> file(s)
            missing'``.
        max_listed: Items listed before ``... and <n> more``.

    Returns:
        str: The report, lines separated by newlines.
    """
    where = ''
    if root is not None:
        root = os.fspath(root)
        where = f' in root={root!r}'
        if osp.abspath(root) != root:
            where += f' ({osp.abspath(root)})'
    if summary is None:
        summary = f'{len(missing)} file(s) missing'
    lines = [
        f'{dataset} not found{where}: {summary}.',
        'Missing files (the first name is the expected layout, the others '
        'are also accepted):'
    ]
    items = list(missing.items())
    for item, candidates in items[:max_listed]:
        lines.append(f'  {item}: {" or ".join(map(str, candidates))}')
    if len(items) > max_listed:
        lines.append(f'  ... and {len(items) - max_listed} more.')
    lines += list(obtain)
    lines.append('Expected layout:')
    lines += [f'  {line}' for line in layout]
    lines.append(f'Fix: {fix}')
    return '\n'.join(lines)
