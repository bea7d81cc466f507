"""Seeded randomness without global side effects: :func:`seeded` runs a block under
``keras.utils.set_random_seed`` and puts every global random state back afterwards.

Keras draws the seeds of weight initialisers and Dropout layers from Python's ``random`` when a layer is made,
and ``model.fit`` shuffles arrays with TensorFlow's global seed. So a model built and trained after
``keras.utils.set_random_seed(seed)`` is reproducible — and every later random call of the process depends on
that seed too. The package's own calls (:func:`mer_helpers.pipeline.build`, :func:`mer_helpers.pipeline.fit`,
the experiments) run inside ``with seeded(seed):`` instead: inside the block the random streams are exactly
those of ``keras.utils.set_random_seed(seed)``; after it, Python's ``random``, NumPy's global state, Keras'
global seed and ``SeedGenerator`` and TensorFlow's (or PyTorch's) global seed are what they were before.

Importing this module does not import Keras.

Notebook: 04_crnn_training.ipynb
"""

from __future__ import annotations

import contextlib
import random

import numpy as np

__all__ = ["seeded"]


@contextlib.contextmanager
def seeded(seed: int):
    """Run the block under ``keras.utils.set_random_seed(seed)``, then restore the process's random state.

    Parameters
    ----------
    seed : int
        The seed (``Recipe.seed``).

    Examples
    --------
    >>> with seeded(0):
    ...     model = build_model("crnn", (32, 75, 1), n_genres=8)  # the weights set_random_seed(0) would give
    """
    from mer_helpers.backend import import_keras

    keras = import_keras()
    from keras.src.backend.common import global_state
    from keras.src.random.seed_generator import GLOBAL_SEED_GENERATOR
    from keras.src.utils.rng_utils import GLOBAL_RANDOM_SEED

    saved_py, saved_np = random.getstate(), np.random.get_state()
    saved_keras = {name: global_state.get_global_attribute(name) for name in (GLOBAL_RANDOM_SEED,
                                                                                GLOBAL_SEED_GENERATOR)}
    saved_backend = _backend_state(keras)
    try:
        keras.utils.set_random_seed(int(seed))
        yield
    finally:
        random.setstate(saved_py)
        np.random.set_state(saved_np)
        for name, value in saved_keras.items():
            global_state.set_global_attribute(name, value)
        _restore_backend_state(keras, saved_backend)


def _backend_state(keras):
    """What ``keras.utils.set_random_seed`` changes in TensorFlow (always, when installed) and PyTorch."""
    state = {}
    try:
        from tensorflow.python.eager import context
        from tensorflow.python.framework import ops
    except ImportError:
        context = None
    if context is not None:
        if context.executing_eagerly():
            ctx = context.context()
            state["tf_eager"] = (ctx._seed, getattr(ctx, "_rng", None))  # noqa: SLF001 - no public getter
        else:
            state["tf_graph"] = ops.get_default_graph().seed
    if keras.backend.backend() == "torch":
        import torch

        state["torch"] = torch.get_rng_state()
        if torch.cuda.is_available():
            state["torch_cuda"] = torch.cuda.get_rng_state_all()
    return state


def _restore_backend_state(keras, state) -> None:
    if "tf_eager" in state:
        from tensorflow.python.eager import context

        seed, rng = state["tf_eager"]
        ctx = context.context()
        ctx._set_global_seed(seed)  # noqa: SLF001 - what tf.random.set_seed does (it also clears kernel caches)
        if rng is not None:
            ctx._rng = rng  # noqa: SLF001 - the operation-seed stream, where it was
        else:
            ctx._seed, ctx._rng = seed, None  # noqa: SLF001 - never seeded before: unseeded again
    if "tf_graph" in state:
        from tensorflow.python.framework import ops

        ops.get_default_graph().seed = state["tf_graph"]
    if "torch" in state:
        import torch

        torch.set_rng_state(state["torch"])
        if "torch_cuda" in state:
            torch.cuda.set_rng_state_all(state["torch_cuda"])
