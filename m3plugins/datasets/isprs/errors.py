"""Errors raised by the ISPRS Potsdam / Vaihingen datasets.

API:
    ISPRSDataNotFoundError(message)  # a torchgeo DatasetNotFoundError
    ISPRSTileError                   # ValueError: a tile exists, unusable
"""
from torchgeo.datasets import DatasetNotFoundError

__all__ = ['ISPRSDataNotFoundError', 'ISPRSTileError']


class ISPRSDataNotFoundError(DatasetNotFoundError):
    """Files of an ISPRS dataset are missing; the message says what to get.

    TorchGeo's :class:`~torchgeo.datasets.DatasetNotFoundError` builds a
    generic message from a dataset object. This subclass carries a complete
    message instead (which archives to request from ISPRS, where to extract
    them, which files are missing), and it can be rebuilt from that message
    alone, as mmengine's registry does when it re-raises an error
    (``type(err)(f'class ...: {err}')``), so the instructions survive.

    Args:
        message: The full explanation.
    """

    def __init__(self, message: str) -> None:
        FileNotFoundError.__init__(self, message)


class ISPRSTileError(ValueError):
    """A tile's files exist but cannot be used.

    Raised for unreadable (truncated, corrupt) rasters, modalities of
    different sizes, and wrong band counts; the message names the tile, the
    modality and the file.
    """
