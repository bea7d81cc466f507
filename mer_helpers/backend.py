"""Importing Keras quietly.

TensorFlow writes its start-up lines ("Could not find cuda drivers…", the CPU-feature note, absl's "All log
messages before absl::InitializeLog()…") straight to file descriptor 2 while it is imported — below Python,
whatever ``TF_CPP_MIN_LOG_LEVEL`` says — and Jupyter shows them in the first cell's output; later, its Python
logger warns about tf.function retracing, which is harmless here (every notebook builds several small models).
:func:`import_keras` hides both and changes nothing else: stderr is pointed at /dev/null only for the length of
the import, and only the ``tensorflow`` logger's level is raised to ERROR.

Notebooks: all; the CLI uses it too.
"""

from __future__ import annotations

import logging
import os
import sys

__all__ = ["import_keras"]


def import_keras():
    """``import keras`` (and its backend) without TensorFlow's start-up banner; returns the keras module."""
    if "keras" not in sys.modules:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
        sys.stderr.flush()
        saved = os.dup(2)
        devnull = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(devnull, 2)
            import keras  # noqa: F401
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            os.close(devnull)
    import keras

    if keras.backend.backend() == "tensorflow":
        logging.getLogger("tensorflow").setLevel(logging.ERROR)
    return keras
