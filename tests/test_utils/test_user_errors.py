"""One clear end for user errors: a message, exit status 2, no traceback."""
import errno

import pytest
from mmseg.registry import MODELS

from m3plugins.utils.user_errors import (
    DEBUG_ENVIRONMENT_VARIABLE,
    describe_user_error,
    exit_on_user_error,
)


def _unknown_type_error():
    with pytest.raises(KeyError) as info:
        MODELS.build(dict(
            type='EncoderDecoder', backbone=dict(type='MoBaNetBackbon'),
            decode_head=dict(type='FCNHead', in_channels=4, channels=4,
                             num_classes=2)))
    return info.value


def test_unknown_type_names_the_closest_registered_ones():
    message = describe_user_error(_unknown_type_error())
    assert message.startswith('Unknown type in the config.')
    assert "type='MoBaNetBackbon' is not a registered model" in message
    assert 'Closest registered names: MoBaNetBackbone' in message
    # A KeyError that is not about the registry stays a bug.
    assert describe_user_error(KeyError('classes')) is None


def test_user_errors_end_with_their_message_and_status_2(capsys,
                                                         monkeypatch):
    monkeypatch.delenv(DEBUG_ENVIRONMENT_VARIABLE, raising=False)
    from m3plugins.io.file_discovery import MissingDataError
    missing = MissingDataError('Houston2013 not found in root=x')
    with pytest.raises(SystemExit) as info:
        with exit_on_user_error():
            raise missing
    assert info.value.code == 2
    assert info.value.__cause__ is missing
    err = capsys.readouterr().err
    assert 'Dataset not found.\nHouston2013 not found in root=x' in err
    assert 'Traceback' not in err and DEBUG_ENVIRONMENT_VARIABLE in err
    # Bugs keep their traceback.
    with pytest.raises(ZeroDivisionError):
        with exit_on_user_error():
            1 / 0


def test_debug_shows_the_original_error(monkeypatch):
    monkeypatch.setenv(DEBUG_ENVIRONMENT_VARIABLE, '1')
    with pytest.raises(FileNotFoundError):
        with exit_on_user_error():
            raise FileNotFoundError('missing.pth')


def test_unwritable_and_full_disks_name_the_path():
    denied = PermissionError(errno.EACCES, 'Permission denied',
                             '/read-only/work/iter_2.pth')
    assert describe_user_error(denied) == (
        'Cannot write.\n/read-only/work/iter_2.pth: Permission denied '
        '(choose a writable --work-dir / output path).')
    full = OSError(errno.ENOSPC, 'No space left on device', '/work/x.pth')
    assert describe_user_error(full) == (
        'Disk full.\n/work/x.pth: no space left on the device.')
    assert describe_user_error(FileNotFoundError(
        'ckpt.pth can not be found.')) == 'File not found.\nckpt.pth can ' \
        'not be found.'
