"""``Conv1D``: a 1-D convolution over time (Keras 3's layer, channels_last by default).

Input (batch, steps, in), kernel (kernel_size, in/groups, filters), bias (filters,).
With ``d`` = dilation_rate, ``s`` = strides and the padded input ``xp``::

    z[b, o, f] = Σ_j Σ_c xp[b, o·s + j·d, c] · kernel[j, c, f] + bias[f]   # cross-correlation
    y = activation(z)                                                       # (B, steps_out, filters)

Padding: ``valid`` none; ``causal`` ``d·(k-1)`` zeros on the left (output t sees inputs <= t);
``same`` total ``max(0, (ceil(L/s)-1)·s + d·(k-1) + 1 - L)`` zeros, half on the left (the
extra one on the right), as Keras. ``groups`` splits channels into independent groups.
Backward runs the same loop over kernel taps: ``dkernel[j] = Σ xp_j^T dz``,
``dxp_j += dz · kernel[j]^T``, then the padding is cut off.
"""
from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from ..errors import ConfigError, InputShapeError
from ..random import make_rng
from .base import Layer
from .kernel_bias import KernelBiasActivation
from .penalties import Penalized, activity_regularized


def one_int(value: Any, name: str, who: str) -> int:
    """Keras's ``standardize_tuple`` for rank 1: an int or a 1-tuple/list of a positive int."""
    v = value
    if isinstance(v, (list, tuple)):
        if len(v) != 1:
            raise ConfigError(f"{who}: {name} must be an int or a tuple of 1 int, got {value!r}.")
        v = v[0]
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v <= 0:
        raise ConfigError(f"{who}: {name} must be a positive integer, got {value!r}.")
    return int(v)


def check_padding(padding: Any, who: str, allow_causal: bool) -> str:
    p = str(padding).lower() if isinstance(padding, str) else padding
    allowed = ("valid", "same", "causal") if allow_causal else ("valid", "same")
    if p not in allowed:
        raise ConfigError(f"{who}: padding must be one of {allowed}, got {padding!r}.")
    return p


def check_data_format(data_format: Any, who: str) -> str:
    if data_format is None:
        return "channels_last"
    if data_format not in ("channels_last", "channels_first"):
        raise ConfigError(f"{who}: data_format must be 'channels_last' or 'channels_first', "
                          f"got {data_format!r}.")
    return data_format


def pad_amounts(length: int, window: int, stride: int, padding: str) -> tuple[int, int]:
    """(left, right) padding of a ``length``-step axis for an effective ``window``."""
    if padding == "valid":
        return 0, 0
    if padding == "causal":
        return window - 1, 0
    out = -(-length // stride)
    total = max(0, (out - 1) * stride + window - length)
    return total // 2, total - total // 2


def output_length(length: int | None, window: int, stride: int, padding: str) -> int | None:
    if length is None:
        return None
    if padding == "same":
        return -(-length // stride)
    left, right = pad_amounts(length, window, stride, padding)
    return max(0, (length + left + right - window) // stride + 1)


class Conv1DCache(NamedTuple):
    xp: np.ndarray        # (B, Lp, in) padded input, channels_last
    z: np.ndarray | None  # (B, Lo, filters) pre-activation, if the activation needs it
    y: np.ndarray         # (B, Lo, filters) channels_last output
    left: int             # padding cut off again in backward
    length: int           # L, the unpadded steps


@activity_regularized
class Conv1D(KernelBiasActivation, Penalized, Layer):
    """1-D convolution: (batch, steps, in) -> (batch, steps_out, filters).

    Parameters ``kernel_size·(in/groups)·filters + filters``. ``data_format=
    "channels_first"`` takes (batch, in, steps) and returns (batch, filters, steps_out).
    """

    def __init__(self, filters: int, kernel_size: Any, strides: Any = 1, padding: str = "valid",
                 data_format: str | None = None, dilation_rate: Any = 1, groups: int = 1,
                 activation: Any = None, use_bias: bool = True,
                 kernel_initializer: Any = "glorot_uniform", bias_initializer: Any = "zeros",
                 kernel_regularizer: Any = None, bias_regularizer: Any = None,
                 activity_regularizer: Any = None, kernel_constraint: Any = None,
                 bias_constraint: Any = None, **kwargs: Any) -> None:
        if kwargs.pop("lora_rank", None):
            raise ConfigError("Conv1D: lora_rank (LoRA fine-tuning weights) is not supported by unrolled.")
        kwargs.pop("lora_alpha", None)
        kwargs.update(kernel_regularizer=kernel_regularizer, bias_regularizer=bias_regularizer,
                      activity_regularizer=activity_regularizer,
                      kernel_constraint=kernel_constraint, bias_constraint=bias_constraint)
        self._take_penalties(kwargs, ("kernel", "bias"))
        super().__init__(**kwargs)
        who = "Conv1D"
        self.filters = one_int(filters, "filters", who)
        self.kernel_size = one_int(kernel_size, "kernel_size", who)
        self.strides = one_int(strides, "strides", who)
        self.dilation_rate = one_int(dilation_rate, "dilation_rate", who)
        self.groups = one_int(groups, "groups", who)
        self.padding = check_padding(padding, who, allow_causal=True)
        self.data_format = check_data_format(data_format, who)
        if self.filters % self.groups:
            raise ConfigError(f"Conv1D: filters ({self.filters}) must be divisible by groups "
                              f"({self.groups}).")
        if self.strides > 1 and self.dilation_rate > 1:
            raise ConfigError("Conv1D: strides > 1 together with dilation_rate > 1 is not "
                              f"supported (as in Keras); got strides={self.strides}, "
                              f"dilation_rate={self.dilation_rate}.")
        self._init_kernel_bias(activation, use_bias, kernel_initializer, bias_initializer)
        self.in_channels: int | None = None

    @property
    def window(self) -> int:
        """The receptive field of one output step: dilation·(kernel_size-1) + 1."""
        return self.dilation_rate * (self.kernel_size - 1) + 1

    def _channel_axis(self) -> int:
        return -1 if self.data_format == "channels_last" else 1

    def build(self, input_shape):
        if len(input_shape) != 3 or input_shape[self._channel_axis()] is None:
            raise InputShapeError(f"Conv1D needs input shape (batch, steps, channels) with known "
                                  f"channels, got {tuple(input_shape)}.")
        channels = int(input_shape[self._channel_axis()])
        if channels % self.groups:
            raise InputShapeError(f"Conv1D: the input channels ({channels}) must be divisible by "
                                  f"groups ({self.groups}).")
        self.in_channels = channels
        self._add_kernel_and_bias((self.kernel_size, channels // self.groups, self.filters),
                                  make_rng(getattr(self.kernel_initializer, "seed", None)))
        super().build(input_shape)

    def validate_input(self, shape):
        if len(shape) != 3:
            layout = "(batch, steps, channels)" if self.data_format == "channels_last" else "(batch, channels, steps)"
            hint = " Add a channel axis: x[..., None]." if len(shape) == 2 else ""
            raise InputShapeError(f"Conv1D {self.name!r} expects input of rank 3 {layout}, got "
                                  f"shape {tuple(shape)}.{hint}")
        channels, steps = (shape[2], shape[1]) if self.data_format == "channels_last" else (shape[1], shape[2])
        if self.in_channels is not None and channels != self.in_channels:
            raise InputShapeError(f"Conv1D {self.name!r} expects {self.in_channels} channels, got "
                                  f"shape {tuple(shape)}.")
        if steps >= 0 and self.padding == "valid" and steps < self.window:
            raise InputShapeError(
                f"Conv1D {self.name!r}: {steps} steps are fewer than the kernel's reach "
                f"{self.window} (kernel_size {self.kernel_size}, dilation {self.dilation_rate}) "
                "with padding='valid', so there is no output step. Use padding='same' or "
                "'causal', or a smaller kernel.")

    def compute_output_shape(self, input_shape):
        b = input_shape[0]
        steps = input_shape[1] if self.data_format == "channels_last" else input_shape[2]
        out = output_length(steps, self.window, self.strides, self.padding)
        return (b, out, self.filters) if self.data_format == "channels_last" else (b, self.filters, out)

    def compute_mask(self, x, mask=None):
        return None  # Keras's Conv1D does not support masking: the mask stops here

    def _taps(self, steps_out: int) -> list[slice]:
        """For each kernel tap j, the padded-input steps o·s + j·d of every output o."""
        s, d = self.strides, self.dilation_rate
        return [slice(j * d, j * d + s * (steps_out - 1) + 1, s) for j in range(self.kernel_size)]

    def forward(self, x, training=False, **kwargs):
        if self.data_format == "channels_first":
            x = x.transpose(0, 2, 1)
        length = x.shape[1]
        left, right = pad_amounts(length, self.window, self.strides, self.padding)
        xp = np.pad(x, ((0, 0), (left, right), (0, 0))) if left or right else x   # (B, Lp, in)
        steps_out = (xp.shape[1] - self.window) // self.strides + 1
        ci, fo = self.in_channels // self.groups, self.filters // self.groups
        z = np.zeros((x.shape[0], steps_out, self.filters), dtype=self.dtype)   # (B, Lo, F)
        for j, taps in enumerate(self._taps(steps_out)):
            for g in range(self.groups):
                z[..., g * fo:(g + 1) * fo] += xp[:, taps, g * ci:(g + 1) * ci] @ self.kernel[j, :, g * fo:(g + 1) * fo]
        y, z_saved = self._add_bias_and_activate(z)
        cache = Conv1DCache(xp, z_saved, y, left, length)
        return (y if self.data_format == "channels_last" else y.transpose(0, 2, 1)), cache

    def backward(self, dy, cache):
        if self.data_format == "channels_first":
            dy = dy.transpose(0, 2, 1)
        xp, z, y, left, length = cache
        dz = self.activation.backward(z, y, dy)                             # (B, Lo, F)
        ci, fo = self.in_channels // self.groups, self.filters // self.groups
        d_kernel = np.zeros_like(self.kernel)
        dxp = np.zeros_like(xp)
        for j, taps in enumerate(self._taps(dz.shape[1])):
            for g in range(self.groups):
                xs, dzg = xp[:, taps, g * ci:(g + 1) * ci], dz[..., g * fo:(g + 1) * fo]
                d_kernel[j, :, g * fo:(g + 1) * fo] = xs.reshape(-1, ci).T @ dzg.reshape(-1, fo)
                dxp[:, taps, g * ci:(g + 1) * ci] += dzg @ self.kernel[j, :, g * fo:(g + 1) * fo].T
        dx = dxp[:, left:left + length]
        if self.data_format == "channels_first":
            dx = dx.transpose(0, 2, 1)
        return np.ascontiguousarray(dx), self._kernel_and_bias_grads(d_kernel, dz)

    def param_formula(self) -> str:
        k, c, f = self.kernel_size, (self.in_channels or 0) // self.groups, self.filters
        return self._kernel_bias_formula("kernel_size·(in/groups)·filters", f"{k}·{c}·{f}",
                                         k * c * f, "filters", f)

    def get_config(self):
        pen = self.penalty_config()
        return {**super().get_config(), "filters": self.filters, "kernel_size": [self.kernel_size],
                "strides": [self.strides], "padding": self.padding, "data_format": self.data_format,
                "dilation_rate": [self.dilation_rate], "groups": self.groups,
                **self._kernel_bias_config(),
                "kernel_regularizer": pen["kernel_regularizer"], "bias_regularizer": pen["bias_regularizer"],
                "activity_regularizer": pen["activity_regularizer"],
                "kernel_constraint": pen["kernel_constraint"], "bias_constraint": pen["bias_constraint"]}
