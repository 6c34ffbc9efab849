"""One way for every entry point to end on a mistake a user can fix.

A missing data set, a file that is not a checkpoint, a model of another
class count, a typo in a registered type, an unwritable work dir: these are
the user's to fix, and a wall of traceback hides the one line that says
how. :func:`exit_on_user_error` prints that line (with a short headline)
and ends the process with status 2, as argparse does for a bad command
line. Anything else, a bug, propagates with its traceback. Setting the
environment variable ``M3PLUGINS_DEBUG=1`` (or ``--debug`` of the tools)
lets user errors propagate too.

Used by the tools (``tools/train.py``, ``test.py``, ``infer.py``,
``demo.py``) and by :class:`~m3plugins.engine.M3PluginsRunner`, so that
``mim train mmseg`` / ``mim test mmseg`` and MMSeg's own tools behave the
same with the package's configs.
"""
import difflib
import os
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = [
    'DEBUG_ENVIRONMENT_VARIABLE', 'USER_ERROR_EXIT_STATUS',
    'describe_user_error', 'exit_on_user_error', 'debug_enabled',
    'unknown_registry_type_message'
]

#: Set to 1 to see the traceback of a user error.
DEBUG_ENVIRONMENT_VARIABLE = 'M3PLUGINS_DEBUG'
#: Exit status of a known user error (argparse's status for bad usage).
USER_ERROR_EXIT_STATUS = 2

_UNKNOWN_TYPE = re.compile(
    r'(?P<type>[\w.]+) is not in the (?P<scope>\w+)::(?P<registry>[\w ]+?) '
    r'registry')


def debug_enabled() -> bool:
    """Whether user errors should show their traceback."""
    return os.environ.get(DEBUG_ENVIRONMENT_VARIABLE, '') not in ('', '0')


def _registries_named(name: str) -> list:
    """MMSeg's and mmengine's registries called ``name``."""
    import mmengine.registry as engine_registry
    import mmseg.registry as seg_registry
    from mmengine.registry import Registry
    found = []
    for module in (seg_registry, engine_registry):
        for value in vars(module).values():
            if isinstance(value, Registry) and value.name == name \
                    and value not in found:
                found.append(value)
    return found


def unknown_registry_type_message(message: str) -> str | None:
    """Name an unknown registered type and its closest registered names.

    Args:
        message: The text of the ``KeyError`` mmengine raises for an
            unknown type ("``X is not in the mmseg::model registry``"),
            possibly prefixed by the classes that were being built.

    Returns:
        str | None: The message with up to three suggestions, or None when
        ``message`` is not about an unknown registered type.
    """
    match = _UNKNOWN_TYPE.search(message)
    if match is None:
        return None
    wanted, registry_name = match.group('type'), match.group('registry')
    names = set()
    for registry in _registries_named(registry_name):
        while registry is not None:
            names.update(registry.module_dict)
            registry = registry.parent
    close = difflib.get_close_matches(wanted, sorted(names), n=3,
                                      cutoff=0.5)
    suggestion = (f' Closest registered names: {", ".join(close)}.'
                  if close else '')
    return (f'type={wanted!r} is not a registered {registry_name} '
            f'(scope {match.group("scope")}; is the module that registers '
            f'it imported through custom_imports?).{suggestion}')


def _user_error_types() -> dict:
    """Exception classes that are user errors, with their headlines."""
    from torchgeo.datasets import DatasetNotFoundError

    from m3plugins.datasets.isprs.tiles import ISPRSTileError
    from m3plugins.demo.demo_folder import DemoFolderNotEmptyError
    from m3plugins.engine.checkpoint_checks import (
        CheckpointModelMismatchError,
        NotACheckpointError,
    )
    from m3plugins.engine.data_contract_check_hook import ClassCountError
    from m3plugins.io.georeference import RasterAlignmentError
    from m3plugins.io.label_values import LabelValueError
    from m3plugins.io.raster_reading import RasterReadError
    from m3plugins.models.foundation.weight_files import (
        PretrainedWeightsUnavailableError,
    )
    from m3plugins.utils.modalities import ModalityError
    from m3plugins.utils.output_paths import OutputOverwriteError
    return {
        DatasetNotFoundError: 'Dataset not found.',
        NotACheckpointError: 'Unusable checkpoint.',
        CheckpointModelMismatchError: 'Unusable checkpoint.',
        PretrainedWeightsUnavailableError: 'Pretrained weights not found.',
        ClassCountError: 'The model does not fit the data.',
        ModalityError: 'The model does not fit the data.',
        ISPRSTileError: 'Bad ISPRS tile.',
        RasterReadError: 'Unreadable raster.',
        RasterAlignmentError: 'Rasters do not align.',
        LabelValueError: 'Bad label values.',
        DemoFolderNotEmptyError: 'Output folder in use.',
        OutputOverwriteError: 'Output would overwrite a file.',
    }


def describe_user_error(err: BaseException) -> str | None:
    """The message to show for a user error, or None for any other error.

    Args:
        err: The exception.

    Returns:
        str | None: A headline and the error's own message; None when
        ``err`` is not a known user error (it then keeps its traceback).
    """
    for error_type, headline in _user_error_types().items():
        if isinstance(err, error_type):
            return f'{headline}\n{err}'
    if isinstance(err, KeyError) and err.args:
        unknown = unknown_registry_type_message(str(err.args[0]))
        if unknown is not None:
            return f'Unknown type in the config.\n{unknown}'
    if isinstance(err, FileNotFoundError):
        return f'File not found.\n{err}'
    if isinstance(err, PermissionError | IsADirectoryError) \
            and err.filename:
        return (f'Cannot write.\n{err.filename}: {err.strerror} (choose a '
                'writable --work-dir / output path).')
    if isinstance(err, OSError) and err.errno == 28:  # ENOSPC
        where = f'{err.filename}: ' if err.filename else ''
        return f'Disk full.\n{where}no space left on the device.'
    return None


@contextmanager
def exit_on_user_error() -> Iterator[None]:
    """End a user error with its message and exit status 2, no traceback.

    Other exceptions, and every exception when :func:`debug_enabled`,
    propagate unchanged.

    Raises:
        SystemExit: With status :data:`USER_ERROR_EXIT_STATUS` for a user
            error; the original exception is its ``__cause__``.
    """
    try:
        yield
    except Exception as err:  # noqa: B902 - sorted below
        message = None if debug_enabled() else describe_user_error(err)
        if message is None:
            raise
        print(f'\n{message}\n(set {DEBUG_ENVIRONMENT_VARIABLE}=1 to see the '
              'traceback)', file=sys.stderr)
        raise SystemExit(USER_ERROR_EXIT_STATUS) from err
