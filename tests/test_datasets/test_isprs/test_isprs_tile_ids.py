"""Tile ids from the command line, as the README writes them.

mmengine's ``DictAction`` turns ``2_13`` into the int 213 (a Python int
literal with an underscore), also inside quotes; the datasets put the
underscore back where exactly one known id matches, and otherwise say what
they received and how to write ids.
"""
import argparse

import pytest
from mmengine.config import Config, DictAction

from m3plugins.datasets.isprs import ISPRSPotsdam, ISPRSVaihingen
from m3plugins.datasets.isprs.potsdam import POTSDAM_SPLITS
from m3plugins.datasets.isprs.tile_ids import resolve_tile_ids
from m3plugins.datasets.isprs.tiles import ISPRSTileError
from m3plugins.utils.user_errors import describe_user_error

POTSDAM = {t for ids in POTSDAM_SPLITS.values() for t in ids}
KEY = 'train_dataloader.dataset.tiles'


def cfg_options(*options: str) -> dict:
    """``--cfg-options`` parsed by mmengine's own DictAction."""
    parser = argparse.ArgumentParser()
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    return parser.parse_args(['--cfg-options', *options]).cfg_options


def tiles_from_command_line(option: str):
    """The ``tiles`` a dataset config holds after ``--cfg-options``."""
    cfg = Config(dict(train_dataloader=dict(dataset=dict(
        type='ISPRSPotsdamDataset', tiles=None))))
    cfg.merge_from_dict(cfg_options(option))
    return cfg.train_dataloader.dataset.tiles


@pytest.mark.parametrize('option', [
    f'{KEY}=[2_13,6_7]',
    f"{KEY}=['2_13','6_7']",
    f'{KEY}="[\'2_13\',\'6_7\']"',
    f'{KEY}=2_13,6_7',
])
def test_documented_command_line_forms(potsdam_root, option):
    tiles = tiles_from_command_line(option)
    assert tiles == [213, 67]  # what mmengine hands over
    ds = ISPRSPotsdam(potsdam_root[0], tiles=tiles)
    assert ds.tiles == ['2_13', '6_7']
    assert [files.tile for files in ds.files] == ['2_13', '6_7']


def test_vaihingen_area_numbers(vaihingen_root):
    tiles = tiles_from_command_line(f'{KEY}=[1,2]')
    assert ISPRSVaihingen(vaihingen_root[0], tiles=tiles).tiles == ['1', '2']


def test_unknown_id_says_what_arrived_and_how_to_write_ids(potsdam_root):
    tiles = tiles_from_command_line(f'{KEY}=[2_13,2_16]')
    with pytest.raises(ISPRSTileError) as info:
        ISPRSPotsdam(potsdam_root[0], tiles=tiles)
    message = str(info.value)
    assert ('Unknown ISPRS Potsdam tile id(s): got 216 (an int: the shell '
            'or mmengine reads R_C as the number RC, and no known tile '
            'reads 216 with an underscore put back)') in message
    assert 'write tile ids as R_C, e.g. --cfg-options ' \
        'train_dataloader.dataset.tiles=[2_10,2_11]' in message
    assert "'7_13'" in message  # the known tiles are listed
    assert describe_user_error(info.value).startswith('Bad ISPRS tile.')


def test_resolution_rules():
    assert resolve_tile_ids('2_13', POTSDAM, 'P') == ['2_13']
    assert resolve_tile_ids(210, POTSDAM, 'P') == ['2_10']
    assert resolve_tile_ids(['515', 6], {'5_15', '6'}, 'P') == ['5_15', '6']
    with pytest.raises(ISPRSTileError, match=r"got '9_99'\. Known"):
        resolve_tile_ids(['9_99'], POTSDAM, 'ISPRS Potsdam')
    with pytest.raises(ISPRSTileError, match='got no tile id'):
        resolve_tile_ids([], POTSDAM, 'ISPRS Potsdam')
    # Two readings of one number: refused, both named.
    with pytest.raises(ISPRSTileError,
                       match=r"got 111 \(an int, which could be any of "
                       r"\['1_11', '11_1'\]"):
        resolve_tile_ids(111, {'1_11', '11_1'}, 'X')
    with pytest.raises(ISPRSTileError, match='write tile ids as area '
                       r'numbers, e.g. --cfg-options .*tiles=\[1,11\]'):
        resolve_tile_ids([99], {'1', '11', '3'}, 'ISPRS Vaihingen')
