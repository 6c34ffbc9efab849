"""A console a person can read; the log file keeps every detail.

mmengine's runner prints the whole environment, the whole config (several
hundred lines per run), the hook table, one line per parameter group and a
handful of deprecation warnings from the host stack that a user cannot act
on. :class:`~m3plugins.engine.M3PluginsRunner` keeps all of it in the work
dir's log file and shows on the console only:

* warnings and errors (but those listed in
  :data:`m3plugins.utils.quiet_warnings.UNACTIONABLE`),
* progress (``Iter(train) [50/150] ... eta: 0:00:09``) and checkpoints,
* results (the metrics' tables and summary lines) and the package's own
  messages.

Set ``M3PLUGINS_FULL_CONSOLE=1`` to see everything on the console.
"""
import logging
import re

from m3plugins.utils.quiet_warnings import UNACTIONABLE

__all__ = ['ConsoleLogFilter']

_UNACTIONABLE = re.compile('|'.join(f'(?:{p})' for p in UNACTIONABLE))

#: Beginnings of the INFO messages the console keeps.
_KEPT_INFO = re.compile(
    r'^(?:Iter\(|Epoch\(|Saving checkpoint|Load checkpoint|Resumed from|'
    r'Resume skipped|--resume|No usable GPU|m3plugins|per class results|'
    r'HSI classification, per class|Class map of|mIoU |\n?\+-)')


class ConsoleLogFilter(logging.Filter):
    """Let progress, results, warnings and errors reach the console."""

    def __init__(self) -> None:
        super().__init__('m3plugins.console')

    def filter(self, record: logging.LogRecord) -> bool:
        """Whether ``record`` is shown on the console.

        Args:
            record: A record of the runner's logger.

        Returns:
            bool: True to show it.
        """
        message = record.getMessage()
        if _UNACTIONABLE.search(message):
            return False
        if record.levelno >= logging.WARNING:
            return True
        return bool(_KEPT_INFO.match(message))
