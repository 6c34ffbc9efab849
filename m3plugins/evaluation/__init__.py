"""Registered components; importing this module registers them."""
from .hsi_classification_metric import HSIClassificationMetric  # noqa: F401
from .remote_sensing_seg_metric import RemoteSensingSegMetric  # noqa: F401
