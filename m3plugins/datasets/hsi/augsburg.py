"""Augsburg (Hong et al.): HSI + SAR + DSM, 7 classes, standard split."""
from .scene import HSI_SCENES, HSIScene


@HSI_SCENES.register_module()
class Augsburg(HSIScene):
    """Augsburg hyperspectral + SAR + DSM scene (Hong et al., ISPRS 2021).

    City of Augsburg, Germany.

    * Sensors: HySpex hyperspectral, 180 bands (0.4-2.5 um); Sentinel-1
      dual-polarisation SAR, 4 bands (VV and VH intensity and the real and
      imaginary parts of the covariance off-diagonal); DLR 3K DSM, 1 band;
      all resampled to 30 m GSD.
    * Size: 332 x 485 pixels.
    * Modalities: ``hsi`` (180), ``sar`` (4), ``dsm`` (1). Default
      ``('hsi', 'sar')``, the HSI-SAR pair M3amba uses.
    * Classes (labels 1..7): Forest, Residential area, Industrial area, Low
      plants, Allotment, Commercial area, Water.
    * Standard split: 761 train (146, 264, 21, 248, 52, 7, 23) / 77533 test
      (13361, 30065, 3830, 26609, 523, 1638, 1507) pixels, from
      ``TrainImage`` / ``TestImage`` (``TestImage`` is stored as float).

    Download: links at https://github.com/danfenghong/ISPRS_S2FL (the data
    is hosted on mediaTUM, https://mediatum.ub.tum.de/1657312, as a zip);
    no plain URL per file, so no ``download``; no md5.

    Accepted on-disk layout in ``root`` (the release's file names):

    .. code-block:: text

        data_HS_LR.mat  (key data_HS_LR,  332 x 485 x 180)
        data_SAR_HR.mat (key data_SAR_HR, 332 x 485 x 4)
        data_DSM.mat    (key data_DSM,    332 x 485)
        TrainImage.mat  (key TrainImage,  332 x 485)
        TestImage.mat   (key TestImage,   332 x 485)

    Citation: D. Hong, J. Hu, J. Yao, J. Chanussot, X. X. Zhu, "Multimodal
    remote sensing benchmark datasets for land cover classification with a
    shared and specific feature learning model", ISPRS J. Photogramm. Remote
    Sens. 178, 68-80, 2021.

    See :class:`~m3plugins.datasets.hsi.scene.HSIScene` for the arguments.
    """
    name = 'Augsburg'
    classes = ('Forest', 'Residential area', 'Industrial area', 'Low plants',
               'Allotment', 'Commercial area', 'Water')
    palette = ((0, 139, 0), (255, 127, 80), (139, 0, 0), (127, 255, 0),
               (255, 255, 0), (216, 191, 216), (0, 0, 255))
    modality_files = {
        'hsi': [('data_HS_LR.mat', ('data_HS_LR', None))],
        'sar': [('data_SAR_HR.mat', ('data_SAR_HR', None))],
        'dsm': [('data_DSM.mat', ('data_DSM', None))],
    }
    modality_bands = {'hsi': 180, 'sar': 4, 'dsm': 1}
    default_modalities = ('hsi', 'sar')
    split_label_files = {
        'train': [('TrainImage.mat', ('TrainImage', None))],
        'test': [('TestImage.mat', ('TestImage', None))],
    }
    scene_size = (332, 485)
    source = ('https://github.com/danfenghong/ISPRS_S2FL (data on mediaTUM, '
              'https://mediatum.ub.tum.de/1657312)')
    rgb_bands = (40, 20, 10)
