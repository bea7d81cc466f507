"""Keras layers of the package (pure ``keras.ops`` / ``keras.random``: any backend).

:class:`SpecAugment` is re-exported by :mod:`mer_helpers.augment`, where the augmentation lesson lives.

Notebook: 03_augmentation.ipynb
"""

from __future__ import annotations

import keras
import numpy as np

from mer_helpers.errors import ParameterError

__all__ = ["SpecAugment"]


# ------------------------------------------------------------------------------------------------------------
# SpecAugment
# ------------------------------------------------------------------------------------------------------------
@keras.saving.register_keras_serializable(package="mer_helpers")
class SpecAugment(keras.layers.Layer):
    """Frequency and time masking of spectrogram batches (SpecAugment, Park et al. 2019), training only.

    For every example independently, ``freq_masks`` bands of ``f ~ U{0..freq_width}`` consecutive frequency
    bins starting at ``f0 ~ U{0..n_freq - f}`` and ``time_masks`` spans of ``t ~ U{0..time_width}``
    consecutive frames starting at ``t0 ~ U{0..n_time - t}`` are set to ``mask_value`` across all channels
    (masks may overlap; a width of 0 masks nothing). With ``training`` false or absent the layer is the
    identity.

    Pure ``keras.ops`` + ``keras.random`` with a :class:`keras.random.SeedGenerator`: it runs under any Keras
    backend, inside a compiled ``model.fit``, and draws new masks at every call. It has no weights.

    Parameters
    ----------
    freq_masks : int >= 0
        Number of frequency masks per example.
    freq_width : int >= 0
        Maximum width of a frequency mask in bins (clipped to the number of bins).
    time_masks : int >= 0
        Number of time masks per example.
    time_width : int >= 0
        Maximum width of a time mask in frames (clipped to the number of frames).
    mask_value : float
        Value written into the masks. 0.0 is silence / padding for the default ``"fixed"`` log-mel
        normalisation (and the mean for ``"standard"``).
    seed : int or None
        Seed of the layer's :class:`keras.random.SeedGenerator` (None: unseeded).

    Input shape
    -----------
    ``[batch, freq, time, channels]`` (or ``[batch, freq, time]``), any float dtype.

    Output shape
    ------------
    Same as the input.

    Notebook: 03_augmentation.ipynb
    """

    def __init__(self, freq_masks: int = 2, freq_width: int = 12, time_masks: int = 2, time_width: int = 20,
                 mask_value: float = 0.0, seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        counts = {"freq_masks": freq_masks, "freq_width": freq_width, "time_masks": time_masks,
                  "time_width": time_width}
        for name, value in counts.items():
            if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 0:
                raise ParameterError(f"SpecAugment: {name} must be a non-negative integer, got {value!r}")
        self.freq_masks = int(freq_masks)
        self.freq_width = int(freq_width)
        self.time_masks = int(time_masks)
        self.time_width = int(time_width)
        self.mask_value = float(mask_value)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.supports_masking = True

    def build(self, input_shape):
        if len(input_shape) not in (3, 4):
            raise ParameterError("SpecAugment expects inputs [batch, freq, time, channels] or "
                                 f"[batch, freq, time], got shape {tuple(input_shape)}")
        super().build(input_shape)

    def _band_mask(self, batch, length, n_masks: int, max_width: int):
        """Boolean [batch, length]: True inside any of ``n_masks`` random bands of width U{0..max_width}."""
        ops = keras.ops
        idx = ops.arange(length, dtype="int32")[None, None, :]  # [1, 1, length]
        max_w = ops.minimum(max_width, length)  # clip widths to the axis length
        u_w = keras.random.uniform((batch, n_masks, 1), seed=self.seed_generator)
        u_0 = keras.random.uniform((batch, n_masks, 1), seed=self.seed_generator)
        w = ops.minimum(ops.cast(ops.floor(u_w * ops.cast(max_w + 1, "float32")), "int32"), max_w)
        start = ops.cast(ops.floor(u_0 * ops.cast(length - w + 1, "float32")), "int32")
        start = ops.minimum(start, length - w)
        inside = ops.logical_and(idx >= start, idx < start + w)  # [batch, n_masks, length]
        return ops.any(inside, axis=1)

    def call(self, inputs, training=None):
        if not training or (self.freq_masks == 0 and self.time_masks == 0):
            return inputs
        ops = keras.ops
        shape = ops.shape(inputs)
        batch, n_freq, n_time = shape[0], shape[1], shape[2]
        masked = None
        if self.freq_masks:
            fm = self._band_mask(batch, n_freq, self.freq_masks, self.freq_width)[:, :, None]  # [b, f, 1]
            masked = fm
        if self.time_masks:
            tm = self._band_mask(batch, n_time, self.time_masks, self.time_width)[:, None, :]  # [b, 1, t]
            masked = tm if masked is None else ops.logical_or(masked, tm)
        if len(inputs.shape) == 4:
            masked = masked[..., None]
        return ops.where(masked, ops.cast(self.mask_value, inputs.dtype), inputs)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update(freq_masks=self.freq_masks, freq_width=self.freq_width, time_masks=self.time_masks,
                      time_width=self.time_width, mask_value=self.mask_value, seed=self.seed)
        return config
