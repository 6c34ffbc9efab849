"""Assert that a block ends as a user error: exit status 2, its cause kept.

:class:`~m3plugins.engine.M3PluginsRunner` and the tools turn user errors
(missing data, unusable checkpoint, a model that does not fit the data)
into ``SystemExit(2)`` whose ``__cause__`` is the original error.
"""
import re
from collections.abc import Iterator
from contextlib import contextmanager

import pytest


@contextmanager
def raises_user_error(error: type, match: str = '') -> Iterator[None]:
    """Expect ``SystemExit(2)`` caused by ``error`` whose text matches.

    Args:
        error: The exception class the user error must be.
        match: A regular expression searched in the error's message.
    """
    with pytest.raises(SystemExit) as info:
        yield
    assert info.value.code == 2
    cause = info.value.__cause__
    assert isinstance(cause, error), repr(cause)
    assert re.search(match, str(cause)), str(cause)
