"""One log line for all frozen parameters, not one per parameter.

mmengine's :class:`~mmengine.optim.DefaultOptimWrapperConstructor` (and the
constructors derived from it) warns ``<name> is skipped since its
requires_grad=False`` once for every frozen parameter while it builds
param-wise groups: 62 lines in the MoBaNet demo, more for M3amba's frozen
CLIP encoder. :class:`~m3plugins.engine.M3PluginsRunner` puts a
:class:`FrozenParameterLogFilter` on its logger while it builds the
optimizer: the filter holds those lines back and counts them, and one
warning afterwards names the count and a few of the parameters. Other
messages pass unchanged.
"""
import logging
import re

__all__ = ['FrozenParameterLogFilter']

#: How many frozen parameter names the summary lists.
_LISTED_NAMES = 3

_SKIPPED = re.compile(r'^(?P<name>\S+) is skipped since its '
                      r'requires_grad=False$')


class FrozenParameterLogFilter(logging.Filter):
    """Hold back mmengine's per-parameter "requires_grad=False" warnings.

    Attributes:
        names: Names of the parameters whose warning was held back, in the
            order mmengine reported them.
    """

    def __init__(self) -> None:
        super().__init__('m3plugins.frozen_parameters')
        self.names: list[str] = []

    def filter(self, record: logging.LogRecord) -> bool:
        """Hold back (and remember) a "requires_grad=False" warning.

        Args:
            record: The log record mmengine's logger is about to emit.

        Returns:
            bool: False for a held-back warning, True for any other record.
        """
        match = _SKIPPED.match(str(record.msg))
        if match is None:
            return True
        self.names.append(match.group('name'))
        return False

    def summary(self) -> str:
        """One sentence: how many parameters are frozen, with examples."""
        examples = ', '.join(self.names[:_LISTED_NAMES])
        more = ', ...' if len(self.names) > _LISTED_NAMES else ''
        return (f'{len(self.names)} parameter(s) with requires_grad=False are '
                f'left out of the optimizer (e.g. {examples}{more}).')
