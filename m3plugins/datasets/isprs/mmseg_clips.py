"""MMSeg's 512 x 512 ISPRS clips with a DSM folder beside them.

API (registered in ``mmseg.registry.DATASETS``):
    ISPRSPotsdamClipsDataset(data_root, data_prefix=dict(
        img_path='img_dir/train', seg_map_path='ann_dir/train'
        [, dsm_path='dsm_dir/train']), with_dsm=True, dsm_suffix='.tif',
        img_suffix='.png', seg_map_suffix='.png', reduce_zero_label=True,
        pipeline=[...], ...)
    ISPRSVaihingenClipsDataset(...)          # the same for Vaihingen
    converter_command(city, data_root) -> str  # the command to make dsm_dir

Most MMSeg users of Potsdam and Vaihingen hold the clips written by MMSeg's
``tools/dataset_converters/potsdam.py`` / ``vaihingen.py``::

    data_root/img_dir/{train,val}/{name}.png   optical, uint8
    data_root/ann_dir/{train,val}/{name}.png   eroded labels, 0 = ignore

These datasets read exactly that layout, as MMSeg's ``PotsdamDataset`` does
(``.png`` suffixes, ``reduce_zero_label=True``: label 0 -> 255, 1..6 ->
0..5), and add one folder::

    data_root/dsm_dir/{train,val}/{name}.tif   DSM clip, same name

written by ``tools/dataset_converters/isprs_multimodal.py`` (``--dsm-only``
next to existing clips): float32, scaled per original tile (min-max to
[0, 1]), as the whole-tile datasets (``ISPRSPotsdamDataset``) scale it. When
``data_prefix`` has no ``dsm_path``, it is ``img_path`` with its
``img_dir`` folder renamed ``dsm_dir``, so an MMSeg config only changes its
dataset ``type``. A missing DSM folder, or a clip without its DSM clip,
raises :class:`~m3plugins.io.file_discovery.MissingDataError`
naming the converter command (``tools/train.py`` prints it and exits 2).

Data items: MMSeg's (``img_path``, ``seg_map_path``, ``label_map``,
``reduce_zero_label``, ``seg_fields``) plus ``dsm_path`` and
``modality_channels`` (``{'optical': 3, 'dsm': 1}``). The loading transform
:class:`~m3plugins.datasets.transforms.LoadMultimodalClip` stacks them into
``img`` (512, 512, 4) float32 (optical 0..255 in file order, then the DSM)
and MMSeg's ``LoadAnnotations`` reads the label. With ``with_dsm=False``
(users without a DSM) items carry no ``dsm_path`` and nothing is checked;
``LoadMultimodalClip(modalities=('optical',))`` then gives 3 channels.

Classes and palette are the package's ISPRS ones (MMSeg's order and
colours, :mod:`m3plugins.datasets.isprs.classes`), so the paper-protocol
metric of the ISPRS configs (5 classes without clutter) applies unchanged.
"""
import os
from typing import ClassVar

from mmseg.datasets import BaseSegDataset
from mmseg.registry import DATASETS

from ...io.file_discovery import MissingDataError, missing_data_report
from ...structures import DataContract, ModalitySpec
from .base import DEFAULT_DSM_NORMALIZATION
from .classes import IGNORE_INDEX, ISPRS_CLASSES, ISPRS_PALETTE

__all__ = [
    'ISPRSPotsdamClipsDataset', 'ISPRSVaihingenClipsDataset',
    'converter_command'
]

#: Folder of MMSeg's optical clips and of the DSM clips beside them.
OPTICAL_FOLDER, DSM_FOLDER = 'img_dir', 'dsm_dir'


def converter_command(city: str, data_root: str | None) -> str:
    """Shell command that writes ``dsm_dir`` next to MMSeg's clips.

    Args:
        city: ``'potsdam'`` or ``'vaihingen'``.
        data_root: The clip root (``img_dir``'s parent).

    Returns:
        str: ``python tools/dataset_converters/isprs_multimodal.py ...``.
    """
    return ('python tools/dataset_converters/isprs_multimodal.py '
            f'{city} /path/to/extracted/ISPRS/{city.capitalize()} -o '
            f'{data_root or "DATA_ROOT"} --dsm-only')


def _dsm_prefix_from_optical(img_path: str) -> str:
    """``img_dir/train`` -> ``dsm_dir/train`` (the first ``img_dir`` part)."""
    parts = img_path.replace('\\', '/').split('/')
    if OPTICAL_FOLDER not in parts:
        raise ValueError(
            f'data_prefix img_path {img_path!r} has no {OPTICAL_FOLDER!r} '
            'folder to derive the DSM folder from; give '
            "data_prefix['dsm_path'] explicitly.")
    parts[parts.index(OPTICAL_FOLDER)] = DSM_FOLDER
    return '/'.join(parts)


class _ISPRSClipsWithDSMDataset(BaseSegDataset):
    """MMSeg's ISPRS clip layout plus ``dsm_dir`` (see the module docstring).

    Args:
        data_prefix: ``img_path``, ``seg_map_path`` and optionally
            ``dsm_path`` folders relative to ``data_root``.
        with_dsm: Attach and check the DSM clips; False serves optical
            clips only (no ``dsm_dir`` needed).
        dsm_suffix: File suffix of the DSM clips.
        dsm_normalization: How the converter scaled the DSM clips (per
            source tile; its ``--dsm-normalization``), declared in the data
            contract so inference scales a large scene the same way.
        img_suffix: Suffix of the optical clips (MMSeg: ``.png``).
        seg_map_suffix: Suffix of the label clips (MMSeg: ``.png``).
        reduce_zero_label: MMSeg's label 0 is the eroded boundary; True
            makes it 255 (ignored) and classes 0..5, as ``PotsdamDataset``.
        **kwargs: :class:`mmseg.datasets.BaseSegDataset` arguments
            (``data_root``, ``pipeline``, ``test_mode``, ``metainfo``...).

    Raises:
        MissingDataError: When ``with_dsm`` and the DSM folder or a
            DSM clip is missing (names the converter command).
    """

    METAINFO: ClassVar[dict] = dict(
        classes=ISPRS_CLASSES,
        palette=[list(colour) for colour in ISPRS_PALETTE])
    #: ``'potsdam'`` or ``'vaihingen'``, for the converter command.
    city: ClassVar[str] = ''

    def __init__(self,
                 data_prefix: dict = dict(
                     img_path='img_dir/train', seg_map_path='ann_dir/train'),
                 with_dsm: bool = True,
                 dsm_suffix: str = '.tif',
                 dsm_normalization: str = DEFAULT_DSM_NORMALIZATION,
                 img_suffix: str = '.png',
                 seg_map_suffix: str = '.png',
                 reduce_zero_label: bool = True,
                 **kwargs) -> None:
        data_prefix = dict(data_prefix)
        self.with_dsm = with_dsm
        self.dsm_suffix = dsm_suffix
        self.dsm_normalization = dsm_normalization
        if with_dsm and not data_prefix.get('dsm_path'):
            data_prefix['dsm_path'] = _dsm_prefix_from_optical(
                data_prefix.get('img_path', ''))
        kwargs.setdefault('ignore_index', IGNORE_INDEX)
        super().__init__(
            data_prefix=data_prefix,
            img_suffix=img_suffix,
            seg_map_suffix=seg_map_suffix,
            reduce_zero_label=reduce_zero_label,
            **kwargs)
        self._contract(with_dsm, dsm_normalization).add_to_metainfo(
            self._metainfo)

    def _contract(self, with_dsm: bool,
                  dsm_normalization: str) -> DataContract:
        """The data contract of these clips (written into ``metainfo``).

        Args:
            with_dsm: Whether the DSM clips are stacked after the optical.
            dsm_normalization: How the converter scaled the DSM clips.

        Returns:
            DataContract: 3 optical bands as read (``'none'``), then, with
            ``with_dsm``, the DSM clip scaled per source ``'tile'`` by the
            converter (no-data already filled there).
        """
        specs = [ModalitySpec('optical', 3, 'none', statistics_scope='tile')]
        if with_dsm:
            specs.append(ModalitySpec('dsm', 1, dsm_normalization,
                                      statistics_scope='tile'))
        return DataContract(modalities=tuple(specs),
                            classes=tuple(ISPRS_CLASSES),
                            palette=tuple(ISPRS_PALETTE),
                            ignore_index=int(self.ignore_index))

    @property
    def modality_channels(self) -> dict:
        """Modality -> channels of the stacked input, in stacking order."""
        if self.with_dsm:
            return {'optical': 3, 'dsm': 1}
        return {'optical': 3}

    def _missing(self, missing: dict[str, list[str]],
                 summary: str) -> MissingDataError:
        """The missing-data report of the DSM clips.

        Args:
            missing: Item -> its expected path.
            summary: How much is missing, in words.

        Returns:
            MissingDataError: Naming the converter command.
        """
        city = self.city.capitalize()
        message = missing_data_report(
            f'ISPRS {city} DSM clips', self.data_root, missing,
            obtain=[
                f'The ISPRS {city} clips need DSM clips beside MMSeg\'s '
                'img_dir / ann_dir. Write them from the original ISPRS tiles '
                '(DSM + orthophoto + labels) with:',
                f'  {converter_command(self.city, self.data_root)}'
            ],
            layout=[
                f'{OPTICAL_FOLDER}/<split>/<name>{self.img_suffix}  '
                '(MMSeg\'s optical clips)',
                f'{DSM_FOLDER}/<split>/<name>{self.dsm_suffix}  (the DSM '
                'clip of the same name)'
            ],
            fix='run the command above, or set with_dsm=False for an '
            'optical-only model (see configs/mobanet/README.md).',
            summary=summary)
        return MissingDataError(message, missing=list(missing))

    def load_data_list(self) -> list[dict]:
        """MMSeg's clip items, each with its ``dsm_path`` when ``with_dsm``.

        Raises:
            MissingDataError: See the class docstring.
        """
        data_list = super().load_data_list()
        channels = self.modality_channels
        if not self.with_dsm:
            for item in data_list:
                item['modality_channels'] = channels
            return data_list
        dsm_dir = self.data_prefix['dsm_path']
        if not os.path.isdir(dsm_dir):
            raise self._missing({'DSM clip folder': [dsm_dir]},
                                f'the DSM clip folder {dsm_dir} does not '
                                'exist')
        missing = {}
        for item in data_list:
            stem = os.path.basename(item['img_path'])[:-len(self.img_suffix)]
            item['dsm_path'] = os.path.join(dsm_dir, stem + self.dsm_suffix)
            item['modality_channels'] = channels
            if not os.path.isfile(item['dsm_path']):
                missing[f'DSM clip of {stem}'] = [item['dsm_path']]
        if missing:
            raise self._missing(
                missing, f'{len(missing)} of {len(data_list)} optical clips '
                'have no DSM clip')
        return data_list


@DATASETS.register_module()
class ISPRSPotsdamClipsDataset(_ISPRSClipsWithDSMDataset):
    """MMSeg's Potsdam clips (``potsdam.py`` converter) + ``dsm_dir``.

    Arguments as :class:`_ISPRSClipsWithDSMDataset`.
    """
    city = 'potsdam'


@DATASETS.register_module()
class ISPRSVaihingenClipsDataset(_ISPRSClipsWithDSMDataset):
    """MMSeg's Vaihingen clips (``vaihingen.py`` converter) + ``dsm_dir``.

    Arguments as :class:`_ISPRSClipsWithDSMDataset`.
    """
    city = 'vaihingen'
