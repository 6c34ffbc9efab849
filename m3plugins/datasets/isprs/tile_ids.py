"""Tile ids as users write them, including the numbers a command line makes.

ISPRS Potsdam tiles are named ``R_C`` (row 2..7, column 7..15: ``'2_13'``),
Vaihingen tiles by area number (``'1'``, ``'30'``). Written on a command
line, ``--cfg-options train_dataloader.dataset.tiles=[2_13,5_14]`` reaches
the dataset as ``[213, 514]``: mmengine's ``DictAction`` reads ``2_13`` as a
Python int literal (underscores group digits), with or without quotes
around the list or the ids. :func:`resolve_tile_ids` puts the underscore
back where exactly one known id matches (213 -> ``'2_13'``); an id that
matches none, or several, is refused with what was received and how to
write it.
"""
from collections.abc import Collection, Iterable

from .tiles import ISPRSTileError

__all__ = ['resolve_tile_ids']


def _with_underscore(digits: str, known: Collection[str]) -> list[str]:
    """Known ids that read ``digits`` once one underscore is put back."""
    return [f'{digits[:cut]}_{digits[cut:]}' for cut in range(1, len(digits))
            if f'{digits[:cut]}_{digits[cut:]}' in known]


def _resolve(tile, known: Collection[str]) -> str | list[str]:
    """The known id ``tile`` stands for, or the candidates (0 or > 1)."""
    text = str(tile).strip()
    if text in known:
        return text
    if isinstance(tile, bool) or not text.isdigit():
        return []
    candidates = _with_underscore(text, known)
    return candidates[0] if len(candidates) == 1 else candidates


def _describe(tile, candidates: list[str]) -> str:
    """What was received, and why it is not a tile id."""
    text = str(tile)
    if isinstance(tile, int) and not isinstance(tile, bool):
        received = f'{tile} (an int'
        if candidates:
            return (f'{received}, which could be any of {candidates} with '
                    'its underscore put back)')
        return (f'{received}: the shell or mmengine reads R_C as the number '
                f'RC, and no known tile reads {text} with an underscore put '
                'back)')
    if candidates:
        return f'{tile!r} (could be any of {candidates})'
    return repr(tile)


def resolve_tile_ids(tiles, known: Collection[str],
                     benchmark_name: str) -> list[str]:
    """Known tile ids for the ``tiles`` a config or command line gives.

    Args:
        tiles: One id or an iterable of ids: strings (``'2_13'``, ``'1'``)
            or ints (``1``; ``213`` for ``2_13``, as ``DictAction`` parses
            it).
        known: Every id of the benchmark.
        benchmark_name: For the message (``'ISPRS Potsdam'``).

    Returns:
        list[str]: The ids, in the given order.

    Raises:
        ISPRSTileError: For no id, or ids that are not (or not exactly one)
            known tile, naming what was received and how to write ids.
    """
    if isinstance(tiles, (str, int)):
        tiles = [tiles]
    tiles = list(tiles) if isinstance(tiles, Iterable) else [tiles]
    resolved, bad = [], []
    for tile in tiles:
        found = _resolve(tile, known)
        if isinstance(found, str):
            resolved.append(found)
        else:
            bad.append(_describe(tile, found))
    if bad or not tiles:
        example = sorted(known)[:2]
        underscored = [tile for tile in example if '_' in tile]
        how = (f'write tile ids as R_C, e.g. --cfg-options '
               f'train_dataloader.dataset.tiles=[{",".join(underscored)}] '
               f"or tiles=['{underscored[0]}'] in a config"
               if underscored else
               f'write tile ids as area numbers, e.g. --cfg-options '
               f'train_dataloader.dataset.tiles=[{",".join(example)}]')
        received = '; '.join(bad) if bad else 'no tile id'
        raise ISPRSTileError(
            f'Unknown {benchmark_name} tile id(s): got {received}. Known '
            f'tiles: {sorted(known, key=_order)}; {how}.')
    return resolved


def _order(tile: str) -> tuple[int, ...]:
    return tuple(int(part) for part in tile.split('_'))
