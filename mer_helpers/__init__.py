"""mer_helpers: music emotion recognition and genre classification with Keras 3 and librosa.

The pipeline: :mod:`~mer_helpers.audio` → :mod:`~mer_helpers.features` → :mod:`~mer_helpers.cache` →
:mod:`~mer_helpers.models` → :mod:`~mer_helpers.training` → :mod:`~mer_helpers.evaluation` →
:mod:`~mer_helpers.predict`. Datasets come through :func:`mer_helpers.datasets.load`.
"""

from mer_helpers.errors import AudioError, BundleError, DatasetError, MerError

__version__ = "0.1.0"
__all__ = ["AudioError", "BundleError", "DatasetError", "MerError", "__version__"]
