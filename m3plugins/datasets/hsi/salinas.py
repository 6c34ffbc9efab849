"""Salinas (AVIRIS): HSI only, 16 classes, seeded per-class split."""
from .scene import HSI_SCENES, HSIScene

_EHU = 'https://www.ehu.eus/ccwintco/uploads/'


@HSI_SCENES.register_module()
class Salinas(HSIScene):
    """Salinas hyperspectral scene (AVIRIS), Salinas Valley, California.

    * Sensor: AVIRIS, 224 bands recorded (400-2500 nm), 204 kept in
      ``Salinas_corrected`` (the water absorption bands 108-112, 154-167 and
      224 removed; the 224-band ``Salinas.mat`` is read with
      ``band_counts=dict(hsi=224)``), 3.7 m GSD.
    * Size: 512 x 217 pixels.
    * Modalities: ``hsi`` (204).
    * Classes (labels 1..16, 54129 labeled pixels): Brocoli green weeds 1
      2009, Brocoli green weeds 2 3726, Fallow 1976, Fallow rough plow 1394,
      Fallow smooth 2678, Stubble 3959, Celery 3579, Grapes untrained 11271,
      Soil vinyard develop 6203, Corn senesced green weeds 3278, Lettuce
      romaine 4wk 1068, Lettuce romaine 5wk 1927, Lettuce romaine 6wk 916,
      Lettuce romaine 7wk 1070, Vinyard untrained 7268, Vinyard vertical
      trellis 1807.
    * Split: none standard. By default ``train_per_class=0.01`` (1 % of each
      class, a common protocol for this large, easy scene) drawn with
      ``seed``, the rest for testing; or ``split_files=(train, test)``.

    Download: public, ``download=True`` fetches the corrected cube and the
    ground truth from
    https://www.ehu.eus/ccwintco/index.php/Hyperspectral_Remote_Sensing_Scenes
    (MATLAB v5; v7.3 re-saves with key ``gt`` are read too). No md5 is
    recorded (``checksum`` checks nothing here): no public record of the
    EHU files' md5 could be verified.

    Accepted on-disk layout in ``root``:

    .. code-block:: text

        Salinas_corrected.mat (key salinas_corrected, 512 x 217 x 204)
          or Salinas.mat      (key salinas,           512 x 217 x 224)
        Salinas_gt.mat        (key salinas_gt or gt,  512 x 217)

    Citation: J. A. Gualtieri, S. R. Chettri, R. F. Cromp, L. F. Johnson,
    "Support vector machine classifiers as applied to AVIRIS data", Proc.
    8th JPL Airborne Earth Science Workshop, 1999.

    See :class:`~m3plugins.datasets.hsi.scene.HSIScene` for the arguments.
    """
    name = 'Salinas'
    classes = ('Brocoli green weeds 1', 'Brocoli green weeds 2', 'Fallow',
               'Fallow rough plow', 'Fallow smooth', 'Stubble', 'Celery',
               'Grapes untrained', 'Soil vinyard develop',
               'Corn senesced green weeds', 'Lettuce romaine 4wk',
               'Lettuce romaine 5wk', 'Lettuce romaine 6wk',
               'Lettuce romaine 7wk', 'Vinyard untrained',
               'Vinyard vertical trellis')
    palette = ((0, 168, 132), (76, 0, 115), (255, 0, 0), (190, 255, 232),
               (115, 0, 0), (115, 223, 255), (0, 0, 255), (255, 255, 0),
               (255, 170, 0), (168, 168, 0), (255, 0, 197), (0, 112, 255),
               (197, 0, 255), (132, 0, 168), (0, 255, 0), (168, 112, 0))
    modality_files = {
        'hsi': [('Salinas_corrected.mat', ('salinas_corrected', None)),
                ('Salinas.mat', ('salinas', None))]
    }
    modality_bands = {'hsi': 204}
    gt_files = [('Salinas_gt.mat', ('salinas_gt', 'gt', None))]
    default_train_per_class = 0.01
    scene_size = (512, 217)
    urls = {
        'Salinas_corrected.mat': _EHU + 'a/a3/Salinas_corrected.mat',
        'Salinas_gt.mat': _EHU + 'f/fa/Salinas_gt.mat',
    }
    source = ('https://www.ehu.eus/ccwintco/index.php/'
              'Hyperspectral_Remote_Sensing_Scenes')
    # About 640 / 550 / 460 nm (AVIRIS bands of about 10 nm from 400 nm; the
    # first 107 bands are unchanged by the correction).
    rgb_bands = (26, 16, 7)
