"""The ISPRS Potsdam MMSeg dataset over the built-in demo tiles.

``ISPRSPotsdamDemoDataset`` is ``ISPRSPotsdamDataset`` that first writes the
demo tiles of :mod:`m3plugins.demo.isprs_tiles` into ``data_root`` (once;
later calls find a valid manifest and write nothing), so that
``python tools/train.py configs/mobanet/mobanet_demo.py`` runs on a fresh
checkout without any download. Everything after that is the real dataset's
code path (same file layout, loaders, splits by tile name).
"""
from mmseg.registry import DATASETS

from m3plugins.datasets.isprs import ISPRSPotsdamDataset

from .isprs_tiles import DEMO_TILE_SIZE, make_demo_isprs


@DATASETS.register_module()
class ISPRSPotsdamDemoDataset(ISPRSPotsdamDataset):
    """``ISPRSPotsdamDataset`` on generated demo tiles (no download).

    Args:
        data_root: Where the demo tiles are (or will be) written.
        demo_seed: Seed of the generated scenes.
        demo_tile_size: Tile side in pixels (>= 128).
        **kwargs: :class:`~m3plugins.datasets.isprs.ISPRSPotsdamDataset`
            arguments; select tiles with ``tiles`` (see
            ``DEMO_TRAIN_TILES`` / ``DEMO_TEST_TILES``).
    """

    def __init__(self, data_root: str, demo_seed: int = 0,
                 demo_tile_size: int = DEMO_TILE_SIZE, **kwargs) -> None:
        make_demo_isprs(data_root, seed=demo_seed, tile_size=demo_tile_size)
        super().__init__(data_root=data_root, **kwargs)
