"""Hyperspectral (+ LiDAR / SAR / DSM) scene datasets in TorchGeo's style.

Importing this package registers every scene class in :data:`HSI_SCENES`.
"""
from .augsburg import Augsburg
from .botswana import Botswana
from .houston2013 import Houston2013
from .indian_pines import IndianPines
from .kennedy_space_center import KennedySpaceCenter
from .muufl import MUUFL
from .pavia_university import PaviaUniversity
from .salinas import Salinas
from .sampling import per_class_counts, sample_per_class
from .scene import HSI_SCENES, HSIScene
from .trento import Trento
from .whu_hi_longkou import WHUHiLongKou

__all__ = [
    'HSI_SCENES', 'HSIScene', 'sample_per_class', 'per_class_counts',
    'Houston2013', 'MUUFL', 'Augsburg', 'Trento', 'Botswana', 'WHUHiLongKou',
    'IndianPines', 'PaviaUniversity', 'Salinas', 'KennedySpaceCenter'
]
