"""Package data of :mod:`mer_helpers.pretrained`: the musicnn weights (``<model>.weights.h5``), their ISC
licence (``LICENSE-musicnn.txt``), a README with credit and the checkpoint → Keras name mapping, and the
converter that made them (:mod:`mer_helpers.pretrained_weights.convert_musicnn`, the one place that needs
TensorFlow).
"""
