"""Base class of the hyperspectral (+ LiDAR / SAR / DSM) scene datasets.

A benchmark *scene* is one large co-registered raster per modality plus
sparse label maps (0 = unlabeled, 1..K classes). :class:`HSIScene` is a
TorchGeo :class:`~torchgeo.datasets.NonGeoDataset` holding one such scene in
memory, read once, normalised per band over the whole scene and per modality,
and stacked along channels in the order the user asked for (the m3plugins
multimodal convention, :mod:`m3plugins.utils.modalities`).

Subclasses (one file per scene) only declare facts: class names and palette,
the accepted file names and ``.mat`` keys of each raster, the split files or
the per-class sampling default, download URLs and checksums where the data is
public. Everything else lives here:

* ``_verify``: locate every needed file among the accepted layouts
  (:func:`m3plugins.io.file_discovery.locate_files`); download it where a
  URL is known and ``download=True``; otherwise raise
  :class:`~m3plugins.io.file_discovery.MissingDataError` saying which files
  to get from where and how to lay them out.
* Reading (:func:`~m3plugins.io.raster_reading.read_raster`: MATLAB v5,
  v7.3 / HDF5, GeoTIFF, ``.npy``), size and finiteness checks naming the
  modality, per-modality normalisation
  (:mod:`m3plugins.datasets.normalization`).
* Splits: fixed train/test maps, or a seeded per-class sampling
  (:func:`~m3plugins.datasets.hsi.sampling.sample_per_class`) of the ground
  truth.

The dataset has one sample, the whole scene::

    {'image': FloatTensor (C, H, W),
     'mask': LongTensor (H, W)}        # 0 = unlabeled

``mask`` is the map of ``split``; both maps stay available as
``scene.label_maps['train' | 'test']`` (np.int64 (H, W)), the normalised
stacked image as ``scene.image`` (np.float32 (H, W, C)) and the channel layout
as ``scene.modality_channels`` (e.g. ``{'hsi': 144, 'lidar': 1}``) and the
raw per-band statistics each modality was normalised with as
``scene.statistics[modality]`` (:class:`BandStatistics`). Where the scene
ships as GeoTIFFs, ``scene.transform`` (``affine.Affine``: pixel (col, row)
-> map (x, y)) and ``scene.crs`` (rasterio CRS) place the pixel grid on the
ground (the georeference of the first georeferenced modality file; both None
when no modality file is georeferenced), so class maps can be written as
georeferenced GeoTIFFs. Every georeferenced modality file must share them
(:func:`m3plugins.io.georeference.check_co_registration`): misaligned rasters
raise :class:`ModalityError`. To cut crops or patches for MMSeg, use
:class:`~m3plugins.datasets.hsi_scene_dataset.HSISceneDataset`.
"""
import os
import os.path as osp
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar

import numpy as np
import torch
from mmengine.registry import Registry
from torchgeo.datasets import NonGeoDataset
from torchgeo.datasets.utils import check_integrity, download_url

from m3plugins.io.file_discovery import (
    MissingDataError,
    locate_files,
    missing_data_report,
)
from m3plugins.io.georeference import Georeference, check_co_registration
from m3plugins.io.label_values import check_integer_labels
from m3plugins.io.raster_reading import (
    RasterReadError,
    read_raster,
    read_raster_header,
)
from m3plugins.structures import DataContract, ModalitySpec
from m3plugins.utils.modalities import (
    ModalityError,
    modality_layout_mismatch,
    stack_modalities,
)

from ..normalization import (
    BandStatistics,
    band_statistics,
    normalize,
    resolve_normalization,
)
from .sampling import TrainPerClass, per_class_counts, sample_per_class

#: The ``normalization`` a scene applies when none is given.
DEFAULT_NORMALIZATION = 'minmax'

__all__ = ['HSI_SCENES', 'HSIScene', 'SceneFile']

#: Registry of the scene classes, used by ``HSISceneDataset(scene=dict(
#: type='Houston2013', ...))``. Kept apart from MMSeg's DATASETS because a
#: scene is not a sample-level MMSeg dataset.
HSI_SCENES = Registry('hsi scene')

#: One accepted on-disk form of a raster: (file name relative to root,
#: ``.mat`` key). The key may be a string, a tuple of accepted names, or None
#: for "the file's only variable" (see ``read_raster``).
SceneFile = tuple[str, Any]


class HSIScene(NonGeoDataset):
    """One hyperspectral (+ auxiliary modality) scene with sparse labels.

    Subclasses set the class attributes below and document the scene.

    Args:
        root: Folder holding the scene's files (see the subclass docstring
            for the accepted layouts).
        split: ``'train'`` or ``'test'``: which label map ``mask`` is.
        modalities: Modalities to load, stacked along channels in this order
            (``None``: the scene's default). The first is usually ``'hsi'``.
        normalization: One method for all modalities or a dict modality ->
            method: ``'minmax'`` (per band over the whole scene, the default,
            as the papers), ``'zscore'`` or ``'none'``.
        train_per_class: Only for scenes without a standard split: training
            pixels per class (int, fraction in (0, 1), or one int per class),
            drawn with ``seed``; ``None`` uses the scene's documented default.
        seed: Seed of the per-class sampling.
        split_files: Only for scenes without a standard split: use these
            fixed (train, test) label files instead of sampling (names
            relative to ``root``, read with the same readers; ``.mat`` files
            with one variable or keys ``TRLabel`` / ``TSLabel``).
        transforms: Callable applied to the sample dict.
        download: Download missing files where the scene is public.
        checksum: Check the md5 of files whose checksum is known.
        band_counts: Modality -> bands its file must hold; None (default)
            takes :attr:`modality_bands`, the published scene's. Give the
            counts of a band-subset or otherwise derived version here, e.g.
            ``dict(hsi=48, lidar=1)``; modalities it leaves out are
            checked against :attr:`modality_bands`.

    Raises:
        MissingDataError: If files are missing (and not downloadable); the
            message lists each with its accepted names, where to get the
            scene and its layout.
        RasterReadError: If a file is corrupt, lacks its variable, or fails
            its checksum.
        ModalityError: If a modality file holds another band count than
            ``band_counts`` (checked from the file header before any pixel
            is read), a modality or label map has another spatial size than
            the others (also from the headers), a modality has NaN / Inf
            values, or a GeoTIFF georeference (CRS or transform) differs
            from another modality's. Messages name the modality, the
            file(s) and both numbers.
        ValueError: For bad arguments or label maps that do not fit.

    Attributes:
        transform: ``affine.Affine`` of the scene's pixel grid (pixel
            (col, row) -> (x, y) in ``crs``), taken from the first modality
            in ``modalities`` whose file is a georeferenced GeoTIFF; None if
            there is none.
        crs: ``rasterio.crs.CRS`` of ``transform``, or None.
    """

    #: Human-readable scene name.
    name: ClassVar[str] = ''
    #: Class names for labels 1..K.
    classes: ClassVar[tuple[str, ...]] = ()
    #: RGB colour per class (same order as ``classes``).
    palette: ClassVar[tuple[tuple[int, int, int], ...]] = ()
    #: Modality -> accepted files, tried in order.
    modality_files: ClassVar[dict[str, Sequence[SceneFile]]] = {}
    #: Modality -> band count of the real scene. Enforced when a scene is
    #: built unless ``band_counts`` says otherwise (band-subset variants).
    modality_bands: ClassVar[dict[str, int]] = {}
    default_modalities: ClassVar[tuple[str, ...]] = ('hsi', )
    #: 'train' / 'test' -> accepted files of a standard split, or empty.
    split_label_files: ClassVar[dict[str, Sequence[SceneFile]]] = {}
    #: Accepted files of the full ground truth (scenes without a split).
    gt_files: ClassVar[Sequence[SceneFile]] = ()
    #: Default ``train_per_class`` of scenes without a standard split.
    default_train_per_class: ClassVar[TrainPerClass | None] = None
    #: Spatial size (H, W) of the real scene.
    scene_size: ClassVar[tuple[int, int]] = (0, 0)
    #: File name -> URL for the files that are publicly downloadable.
    urls: ClassVar[dict[str, str]] = {}
    #: File name -> md5 where known.
    md5s: ClassVar[dict[str, str]] = {}
    #: Where to get the data, in words (used in MissingDataError).
    source: ClassVar[str] = ''
    #: HSI bands shown as (R, G, B) by ``plot`` (0-based).
    rgb_bands: ClassVar[tuple[int, int, int] | None] = None

    def __init__(self,
                 root: str | os.PathLike = 'data',
                 split: str = 'train',
                 modalities: Sequence[str] | None = None,
                 normalization: str | Mapping[str, str] = (
                     DEFAULT_NORMALIZATION),
                 train_per_class: TrainPerClass | None = None,
                 seed: int = 0,
                 split_files: Sequence[str] | None = None,
                 transforms: Callable[[dict[str, torch.Tensor]],
                                      dict[str, Any]] | None = None,
                 download: bool = False,
                 checksum: bool = False,
                 band_counts: Mapping[str, int] | None = None) -> None:
        if split not in ('train', 'test'):
            raise ValueError(
                f"split must be 'train' or 'test', got {split!r}.")
        self.root = os.fspath(root)
        self.split = split
        modalities = tuple(modalities or self.default_modalities)
        unknown = [m for m in modalities if m not in self.modality_files]
        if unknown or not modalities or len(set(modalities)) != len(
                modalities):
            raise ValueError(
                f'{type(self).__name__} modalities must be distinct names '
                f'from {list(self.modality_files)}, got {list(modalities)}.')
        self.modalities = modalities
        self.normalization = resolve_normalization(normalization, modalities)
        self.has_standard_split = bool(self.split_label_files)
        if self.has_standard_split and (train_per_class is not None
                                        or split_files is not None):
            raise ValueError(
                f'{type(self).__name__} has a standard split; '
                'train_per_class / split_files do not apply.')
        if split_files is not None and len(split_files) != 2:
            raise ValueError('split_files must be (train file, test file).')
        self.split_files = tuple(split_files) if split_files else None
        self.train_per_class = (
            self.default_train_per_class
            if train_per_class is None else train_per_class)
        self.seed = seed
        self.transforms = transforms
        self.download = download
        self.checksum = checksum
        unknown = sorted(set(band_counts or {}) - set(self.modality_files))
        if unknown:
            raise ValueError(
                f'band_counts names modalities {unknown} that '
                f'{type(self).__name__} does not have; it has '
                f'{list(self.modality_files)}.')
        self.band_counts: dict[str, int] = OrderedDict(
            (m, int((band_counts or {}).get(m, self.modality_bands.get(m, 0))))
            for m in modalities)

        self._paths = self._verify()
        self._load()

    # ------------------------------------------------------------------ files
    def _needed(self) -> dict[str, Sequence[SceneFile]]:
        needed: dict[str, Sequence[SceneFile]] = OrderedDict(
            (m, self.modality_files[m]) for m in self.modalities)
        if self.has_standard_split:
            for split in ('train', 'test'):
                needed[f'{split} labels'] = self.split_label_files[split]
        elif self.split_files is not None:
            needed['train labels'] = [(self.split_files[0],
                                       ('TRLabel', None))]
            needed['test labels'] = [(self.split_files[1], ('TSLabel', None))]
        else:
            needed['ground truth'] = self.gt_files
        return needed

    def _verify(self) -> dict[str, SceneFile]:
        """Locate (and download where possible) every needed file."""
        needed = self._needed()
        found, missing = locate_files(OrderedDict(
            (item, [osp.join(self.root, f) for f, _ in candidates])
            for item, candidates in needed.items()))
        if missing and self.download:
            for item in list(missing):
                for filename, _ in needed[item]:
                    if filename in self.urls:
                        self._download(filename)
                        found[item] = osp.join(self.root, filename)
                        del missing[item]
                        break
        if missing:
            raise self._missing_error(needed, missing)
        if self.checksum:
            for path in found.values():
                md5 = self.md5s.get(osp.basename(path))
                if md5 is not None and not check_integrity(path, md5):
                    raise RasterReadError(
                        f'{path!r} failed its md5 check (expected {md5}); '
                        'the file is corrupt or another version. Download it '
                        'again.')
        keys = {item: dict((osp.join(self.root, f), key)
                           for f, key in needed[item]) for item in needed}
        return OrderedDict((item, (found[item], keys[item][found[item]]))
                           for item in needed)

    def _missing_error(self, needed: dict[str, Sequence[SceneFile]],
                       missing: dict[str, list[str]]) -> MissingDataError:
        """The missing-data report of this scene (names relative to root)."""
        listed = OrderedDict((item, [f for f, _ in needed[item]])
                             for item in missing)
        name = type(self).__name__
        fix = f'put one accepted file per item into {self.root!r}'
        downloadable = [f for item in missing for f, _ in needed[item]
                        if f in self.urls]
        if downloadable:
            fix += ', or pass download=True to fetch ' + \
                ', '.join(downloadable) + ' automatically'
        message = missing_data_report(
            name, self.root, listed,
            obtain=[f'Get the {self.name or name} files from: '
                    f'{self.source}'],
            layout=self.layout_lines(),
            fix=fix + '.',
            summary=f'{len(missing)} of {len(needed)} needed files missing')
        return MissingDataError(message, missing=list(missing))

    def _download(self, filename: str) -> None:
        """Download one public file into ``root`` (torchgeo's utility)."""
        download_url(self.urls[filename], self.root, filename=filename,
                     md5=self.md5s.get(filename) if self.checksum else None)

    @classmethod
    def layout_lines(cls) -> list[str]:
        """The accepted layout, one line per item (all files in ``root``).

        Returns:
            list[str]: ``'<item> (<bands>): <name> | <name> (key K)'`` per
            modality and label map; the first name of each item is the
            documented one.
        """
        def describe(files: Sequence[SceneFile]) -> str:
            forms = []
            for filename, key in files:
                if filename.endswith('.mat') and key is not None:
                    keys = [key] if isinstance(key, str) else \
                        [k for k in key if k is not None]
                    forms.append(f'{filename} (key {" or ".join(keys)})')
                else:
                    forms.append(filename)
            return ' | '.join(forms)

        lines = []
        for modality, files in cls.modality_files.items():
            bands = cls.modality_bands.get(modality)
            size = f' ({bands} band{"s" if bands > 1 else ""})' \
                if bands else ''
            lines.append(f'{modality}{size}: {describe(files)}')
        if cls.split_label_files:
            for split, files in cls.split_label_files.items():
                lines.append(f'{split} labels: {describe(files)}')
        else:
            lines.append(f'ground truth: {describe(cls.gt_files)}')
        return lines

    # ---------------------------------------------------------------- loading
    def _read_labels(self, item: str) -> np.ndarray:
        path, key = self._paths[item]
        labels = read_raster(path, key)
        if labels.ndim != 2:
            raise ValueError(f'{item} map {path!r} must be 2-D, got shape '
                             f'{labels.shape}.')
        check_integer_labels(labels, path, item)
        labels = labels.astype(np.int64)
        # Some releases mark unlabeled pixels with -1 (e.g. MUUFL).
        labels[labels < 0] = 0
        if labels.max(initial=0) > len(self.classes):
            raise ValueError(
                f'{item} map {path!r} has label {labels.max()} but '
                f'{type(self).__name__} has {len(self.classes)} classes.')
        return labels

    def _georeference(
            self, headers: dict[str, Any]) -> Georeference | None:
        """The georeference shared by the modality files (headers only).

        Files without one (``.mat``, ``.npy``, plain image grids) are
        skipped; the first georeferenced modality is the reference.

        Args:
            headers: Item -> :class:`~m3plugins.io.raster_reading.
                RasterHeader` of its file.

        Returns:
            Georeference or None: The reference's, None when no modality
            file is georeferenced.

        Raises:
            ModalityError: If two modality files are georeferenced
                differently (CRS, or transforms not aligned).
        """
        return check_co_registration(
            [(m, self._paths[m][0], headers[m].georeference)
             for m in self.modalities],
            error_type=ModalityError,
            fix='Resample them onto one grid in one CRS first.')

    def _check_headers(self) -> dict[str, Any]:
        """Band counts and spatial sizes of every file, from the headers.

        Returns:
            dict[str, Any]: Item -> its file's
            :class:`~m3plugins.io.raster_reading.RasterHeader`.

        Raises:
            ModalityError: Naming the modality, the file(s) and both
                numbers that disagree, and the fix.
        """
        headers = OrderedDict(
            (item, read_raster_header(*self._paths[item]))
            for item in self._paths)
        shapes = OrderedDict(
            (item, header.shape) for item, header in headers.items())
        name = type(self).__name__
        found = OrderedDict(
            (m, 1 if len(shapes[m]) == 2 else shapes[m][-1])
            for m in self.modalities)
        checked = OrderedDict(
            (m, n) for m, n in self.band_counts.items() if n)  # 0: unknown
        mismatch = modality_layout_mismatch(
            OrderedDict((m, found[m]) for m in checked), checked, name)
        if mismatch is not None:
            wrong = [m for m in checked if found[m] != checked[m]]
            files = ', '.join(self._paths[m][0] for m in wrong)
            subset = ', '.join(f'{m}={found[m]}' for m in wrong)
            raise ModalityError(
                f'{mismatch}: file {files}. Fix: use the complete file of '
                f'the scene, or pass band_counts=dict({subset}) to the '
                'scene for a band-subset version (and give the model the '
                'same modality_channels).')
        sizes = OrderedDict((m, shapes[m][:2]) for m in self.modalities)
        if len(set(sizes.values())) > 1:
            listing = ', '.join(f'{m} {h}x{w}' for m, (h, w) in sizes.items())
            files = ', '.join(f'{m} {self._paths[m][0]}' for m in sizes)
            raise ModalityError(
                f'Modalities must share one spatial size, got {listing} '
                f'(height x width; files: {files}). Fix: resample the '
                'modalities onto one pixel grid.')
        first = self.modalities[0]
        height, width = sizes[first]
        for item, shape in shapes.items():
            if item in sizes:
                continue
            if len(shape) != 2:
                raise ValueError(
                    f'{item} map {self._paths[item][0]!r} must be 2-D, got '
                    f'shape {shape}.')
            if tuple(shape) != (height, width):
                raise ModalityError(
                    f'{item} map is {shape[0]}x{shape[1]} but the '
                    f'modalities are {height}x{width} (height x width; '
                    f'{self._paths[item][0]} vs {first} '
                    f'{self._paths[first][0]}). Fix: use the label map of '
                    'the same scene version as the modality files.')
        return headers

    def _load(self) -> None:
        # Before the pixels: wrong band counts, sizes and misaligned files
        # fail fast, from the file headers.
        geo = self._georeference(self._check_headers())
        self.transform = None if geo is None else geo.transform
        self.crs = None if geo is None else geo.crs
        raw = OrderedDict()
        self.modality_channels: dict[str, int] = OrderedDict()
        for modality in self.modalities:
            path, key = self._paths[modality]
            raw[modality] = read_raster(path, key)
            self.modality_channels[modality] = \
                1 if raw[modality].ndim == 2 else raw[modality].shape[-1]
        # Checks sizes and NaN / Inf, naming the modality; float32 (H, W, C).
        stacked = stack_modalities(raw)
        del raw
        # Per band, so normalising each modality's slice of the stack is the
        # same as normalising the modality alone.
        self.statistics: dict[str, BandStatistics] = OrderedDict()
        start = 0
        for modality, count in self.modality_channels.items():
            part = stacked[..., start:start + count]
            stats = band_statistics(part)
            self.statistics[modality] = stats
            # In place, a few rows at a time: no full-size temporaries.
            step = max(1, (1 << 16) // max(part.shape[1], 1))
            for row in range(0, part.shape[0], step):
                part[row:row + step] = normalize(
                    part[row:row + step], self.normalization[modality], stats)
            start += count
        self.image: np.ndarray = stacked

        if self.has_standard_split or self.split_files is not None:
            train = self._read_labels('train labels')
            test = self._read_labels('test labels')
            self._check_size('train labels', train)
            self._check_size('test labels', test)
            overlap = int(((train > 0) & (test > 0)).sum())
            if overlap:
                raise ValueError(
                    f'The train and test label maps share {overlap} pixels.')
        else:
            gt = self._read_labels('ground truth')
            self._check_size('ground truth', gt)
            train, test = sample_per_class(gt, len(self.classes),
                                           self.train_per_class, self.seed)
        self.label_maps: dict[str, np.ndarray] = {
            'train': train,
            'test': test
        }

    def _check_size(self, item: str, labels: np.ndarray) -> None:
        if labels.shape != self.image.shape[:2]:
            raise ModalityError(
                f'{item} map is {labels.shape[0]}x{labels.shape[1]} but the '
                f'modalities are {self.image.shape[0]}x'
                f'{self.image.shape[1]} ({self._paths[item][0]}).')

    # -------------------------------------------------------------- interface
    @property
    def num_classes(self) -> int:
        """K, the number of classes (labels 1..K)."""
        return len(self.classes)

    @property
    def metainfo(self) -> dict[str, Any]:
        """MMSeg-style metainfo plus the scene's data contract.

        Keys: ``classes``, ``palette`` and the contract's ``modalities`` /
        ``ignore_index`` / ``tile_size`` (see
        :class:`m3plugins.structures.DataContract`).
        """
        return self.data_contract.to_metainfo()

    @property
    def data_contract(self) -> DataContract:
        """The contract of this scene as read: the bands found in its files."""
        return self.declared_contract(self.modalities, self.normalization,
                                      self.modality_channels)

    @classmethod
    def declared_contract(
            cls,
            modalities: Sequence[str] | None = None,
            normalization: str | Mapping[str, str] | None = None,
            modality_channels: Mapping[str, int] | None = None,
            ignore_index: int = 255) -> DataContract:
        """The contract of a scene built with these arguments, no files read.

        Args:
            modalities: The scene's ``modalities`` argument (None: the
                class's ``default_modalities``).
            normalization: Its ``normalization`` argument (None: the
                default, :data:`DEFAULT_NORMALIZATION`).
            modality_channels: Bands per modality where known (the files'
                or the model's); otherwise the class's ``modality_bands``.
            ignore_index: Label of the unscored pixels (unlabelled, other
                split), as ``HSISceneDataset`` sets it.

        Returns:
            DataContract: Per-band statistics over the whole ``'scene'``,
            no no-data filling.

        Raises:
            ValueError: If a modality's band count is known from neither.
        """
        modalities = tuple(modalities or cls.default_modalities)
        methods = resolve_normalization(
            DEFAULT_NORMALIZATION if normalization is None else normalization,
            modalities)
        channels = dict(modality_channels or {})
        specs = []
        for modality in modalities:
            bands = channels.get(modality, cls.modality_bands.get(modality))
            if not bands:
                raise ValueError(
                    f'{cls.__name__}: the band count of {modality!r} is '
                    'not declared; give the model\'s modality_channels.')
            specs.append(
                ModalitySpec(modality, int(bands), methods[modality],
                             statistics_scope='scene'))
        return DataContract(modalities=tuple(specs),
                            classes=tuple(cls.classes),
                            palette=tuple(tuple(c) for c in cls.palette),
                            ignore_index=int(ignore_index))

    def class_counts(self, split: str | None = None) -> np.ndarray:
        """Labeled pixels per class (K,) of ``split`` (default: own split)."""
        return per_class_counts(self.label_maps[split or self.split],
                                self.num_classes)

    def __len__(self) -> int:
        return 1

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        """Return the whole scene.

        Args:
            index: Must be 0 (or -1).

        Returns:
            dict: ``image`` FloatTensor (C, H, W), ``mask`` LongTensor (H, W)
            of ``split`` with 0 = unlabeled and 1..K classes.
        """
        if index not in (0, -1):
            raise IndexError(f'A scene has one sample; got index {index}.')
        # Copies, so transforms cannot alter the scene held in memory.
        sample = {
            'image': torch.from_numpy(self.image).permute(2, 0, 1).clone(),
            'mask': torch.from_numpy(self.label_maps[self.split].copy()),
        }
        if self.transforms is not None:
            sample = self.transforms(sample)
        return sample

    def plot(self,
             sample: dict[str, torch.Tensor],
             show_titles: bool = True,
             suptitle: str | None = None):
        """Plot a sample: HSI false colour, labels and (if any) prediction.

        Args:
            sample: A sample from ``__getitem__``, optionally with
                ``prediction`` (H, W) holding labels 1..K (0 = none).
            show_titles: Title each panel.
            suptitle: Figure title.

        Returns:
            matplotlib.figure.Figure
        """
        import matplotlib.pyplot as plt

        image = sample['image'].numpy()
        bands = image.shape[0]
        hsi_bands = self.modality_channels.get('hsi', bands)
        rgb = self.rgb_bands if self.rgb_bands is not None and \
            max(self.rgb_bands) < hsi_bands else tuple(
                int(b) for b in np.linspace(hsi_bands - 1, 0, 3))
        rgb_image = np.stack([image[b] for b in rgb], axis=-1)
        low, high = np.percentile(rgb_image, (2, 98))
        rgb_image = np.clip((rgb_image - low) / max(high - low, 1e-12), 0, 1)
        colours = np.concatenate(
            [np.zeros((1, 3)), np.asarray(self.palette, float) / 255.0])

        panels = [('Image', rgb_image),
                  ('Mask', colours[sample['mask'].numpy()])]
        if 'prediction' in sample:
            panels.append(('Prediction',
                           colours[sample['prediction'].numpy()]))
        fig, axes = plt.subplots(
            1, len(panels), figsize=(4 * len(panels), 4), squeeze=False)
        for ax, (title, data) in zip(axes[0], panels):
            ax.imshow(data)
            ax.axis('off')
            if show_titles:
                ax.set_title(title)
        if suptitle is not None:
            fig.suptitle(suptitle)
        return fig

    def __str__(self) -> str:
        channels = ' + '.join(f'{m} {c}'
                              for m, c in self.modality_channels.items())
        h, w = self.image.shape[:2]
        return (f'{type(self).__name__} scene {h}x{w}, {channels}, '
                f'{self.num_classes} classes, split {self.split}: '
                f'{int(self.class_counts().sum())} labeled pixels')
