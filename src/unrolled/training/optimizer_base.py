"""The :class:`Optimizer` base every update rule builds on: learning rate (or schedule),
clipping, weight decay, EMA, gradient accumulation, the state variables and the config.

Each optimizer updates a list of NumPy arrays **in place** (layers hand out views that
share memory with packed weights, so rebinding would silently lose the update).

One ``apply(grads, variables)`` does what Keras 3's ``BaseOptimizer.apply`` does, in
this order:

1. divide by ``loss_scale_factor`` (if set); with ``gradient_accumulation_steps=k``
   only every k-th call updates, with the mean of the k gradients;
2. clip: ``clipnorm`` (each gradient to L2 norm <= c), else ``global_clipnorm``
   (all gradients scaled together), else ``clipvalue`` (elementwise) -- at most one;
3. decoupled weight decay ``w *= 1 - weight_decay * lr`` (every optimizer accepts
   ``weight_decay``; AdamW merely defaults it to 0.004);
4. the optimizer's own update, with ``lr`` the schedule evaluated at the raw step count;
5. the EMA of the weights (``use_ema``), then ``iterations += 1``.

``variables`` lists the optimizer state exactly as Keras's ``optimizer.variables`` (and
``.keras`` files under ``optimizer/vars/0..N``): ``iteration``, ``learning_rate`` (absent
when it is a schedule), EMA averages, gradient accumulators, then the slots --
interleaved per model variable for the slots Keras creates together (Adam:
``m0, v0, m1, v1, ...``), one block per kind otherwise (RMSprop: all velocities,
then all momentums, then all average gradients).

The update rules themselves (SGD, Adam, AdamW, RMSprop, Adagrad) are in
:mod:`unrolled.training.optimizers`.
"""
from __future__ import annotations

import re
import warnings
from typing import Any, Iterable, Sequence

import numpy as np

from ..errors import ConfigError, InputShapeError
from . import schedules as schedules_module
from .schedules import LearningRateSchedule

Array = np.ndarray


def _snake(name: str) -> str:
    # Keras's `to_snake_case`: "RMSprop" -> "rm_sprop", "AdamW" -> "adam_w".
    name = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", name).lower()


class Optimizer:
    """Shared machinery: learning rate, clipping, weight decay, EMA, accumulation, state.

    Subclasses define ``_build_slots(variables)`` and ``_update(i, g, w, lr)``.
    """

    def __init__(self, learning_rate: float | LearningRateSchedule,
                 weight_decay: float | None = None, clipnorm: float | None = None,
                 clipvalue: float | None = None, global_clipnorm: float | None = None,
                 use_ema: bool = False, ema_momentum: float = 0.99,
                 ema_overwrite_frequency: int | None = None,
                 loss_scale_factor: float | None = None,
                 gradient_accumulation_steps: int | None = None, name: str | None = None):
        clips = {"clipnorm": clipnorm, "clipvalue": clipvalue, "global_clipnorm": global_clipnorm}
        if sum(v is not None for v in clips.values()) > 1:
            raise ConfigError("Only one of `clipnorm`, `clipvalue` and `global_clipnorm` can be "
                              f"set. Received: {', '.join(f'{k}={v}' for k, v in clips.items())}")
        if gradient_accumulation_steps is not None and not gradient_accumulation_steps >= 2:
            raise ConfigError("`gradient_accumulation_steps` must be an integer >= 2. "
                              f"Received: {gradient_accumulation_steps=}")
        if use_ema and not 0 <= ema_momentum <= 1:
            raise ConfigError(f"`ema_momentum` must be in the range [0, 1]. "
                              f"Received: ema_momentum={ema_momentum}")
        self.name = name or _snake(type(self).__name__)
        self.weight_decay = weight_decay
        self.clipnorm, self.clipvalue, self.global_clipnorm = clipnorm, clipvalue, global_clipnorm
        self.use_ema, self.ema_momentum = use_ema, ema_momentum
        self.ema_overwrite_frequency = ema_overwrite_frequency
        self.loss_scale_factor = loss_scale_factor
        self.gradient_accumulation_steps = gradient_accumulation_steps
        self._iterations = np.zeros((), np.int64)        # Keras: "iteration", never reset
        self._lr: Array | LearningRateSchedule = np.zeros((), np.float32)
        self.learning_rate = learning_rate
        self.built = False
        self._variables: list[Array] = []                 # what build() saw, for apply(grads)
        self._shapes: list[tuple[int, ...]] = []
        self._averages: list[Array] = []
        self._accumulators: list[Array] = []
        self._slots: list[Array] = []                     # in Keras's creation order
        self._slot_names: list[str] = []                  # "momentum/3": slot of variable 3
        self._flat: dict[str, Array] = {}                 # slot name -> all variables' slots
        self._buffers: dict[str, tuple[Array, list[Array]]] = {}   # see _flat_buffer

    def __getstate__(self) -> dict[str, Any]:
        # A copy (pickle, deepcopy) gets each slot as an array of its own: views do not
        # survive copying, so the copy updates one variable at a time.
        state = dict(self.__dict__)
        state["_flat"], state["_buffers"] = {}, {}
        return state

    # -- learning rate and step count ---------------------------------------------------
    @property
    def iterations(self) -> int:
        """Completed updates; with gradient accumulation, completed *accumulated* updates."""
        if self.gradient_accumulation_steps:
            return int(self._iterations) // self.gradient_accumulation_steps
        return int(self._iterations)

    @iterations.setter
    def iterations(self, value: int) -> None:
        self._iterations[...] = value

    def _current_lr(self) -> np.float32:
        # Schedules see the raw call count, as in Keras (even with accumulation).
        if isinstance(self._lr, LearningRateSchedule):
            return np.float32(self._lr(int(self._iterations)))
        return self._lr[()]

    @property
    def learning_rate(self) -> float:
        """The rate the next update will use (a schedule evaluated at the current step)."""
        return float(self._current_lr())

    @learning_rate.setter
    def learning_rate(self, value: float | LearningRateSchedule) -> None:
        if isinstance(value, LearningRateSchedule):
            self._lr = value
            return
        if isinstance(self._lr, LearningRateSchedule):
            raise ConfigError(
                "This optimizer was created with a LearningRateSchedule, so its learning rate "
                "is not settable; create it with a float `learning_rate` instead.")
        if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)):
            raise ConfigError("`learning_rate` must be a float or a LearningRateSchedule. "
                              f"Received: learning_rate={value!r}")
        if not value >= 0:
            raise ConfigError(f"`learning_rate` must be >= 0. Received: learning_rate={value}")
        self._lr[...] = value                             # stored as float32, like Keras

    # -- state --------------------------------------------------------------------------
    def _add_slots(self, variables: Sequence[Array], names: Sequence[str],
                   fill: float = 0.0) -> tuple[list[Array], ...]:
        """Zero (or ``fill``) arrays like each variable, one list per name, created in
        Keras's interleaved order (``for v in variables: for name in names``).

        When all variables share one dtype, each name's arrays are views into one flat
        array (``self._flat[name]``), so an update rule can run once over all of them."""
        out: tuple[list[Array], ...] = tuple([] for _ in names)
        flat = {}
        if variables and len({v.dtype for v in variables}) == 1:
            size = sum(int(v.size) for v in variables)
            flat = {name: np.full(size, fill, dtype=variables[0].dtype) for name in names}
            self._flat.update(flat)
        offset = 0
        for k, v in enumerate(variables):
            for name, lst in zip(names, out):
                if flat:
                    lst.append(flat[name][offset:offset + v.size].reshape(v.shape))
                else:
                    lst.append(np.full(v.shape, fill, dtype=v.dtype))
                self._slots.append(lst[-1])
                self._slot_names.append(f"{name}/{k}")
            offset += int(v.size)
        return out

    def _flat_buffer(self, name: str, dtype: Any) -> tuple[Array, list[Array]]:
        """A reused flat array ``name`` in the layout of ``self._flat`` (the variables end
        to end) and its views shaped like each variable, made on first use."""
        got = self._buffers.get(name)
        if got is None:
            sizes = [int(np.prod(shape, dtype=np.int64)) for shape in self._shapes]
            buf = np.empty(sum(sizes), dtype)
            views, offset = [], 0
            for shape, n in zip(self._shapes, sizes):
                views.append(buf[offset:offset + n].reshape(shape))
                offset += n
            got = self._buffers[name] = (buf, views)
            self._flat[name] = buf
        return got

    def _flat_grads(self, gs: list[Array]) -> Array:
        """The gradients end to end in one reused array (the layout of ``self._flat``)."""
        buf, views = self._flat_buffer("_grads", gs[0].dtype)
        for view, g in zip(views, gs):
            view[...] = g
        return buf

    def _float64_buffer(self, g: Array) -> Array | None:
        """A reused float64 array like the flat gradients (for ``_axpy``; None unless float32)."""
        buf = self._flat.get("_float64")
        if buf is None and g.dtype == np.float32:
            buf = self._flat["_float64"] = np.empty(g.shape, np.float64)
        return buf

    def _flat_ready(self, ws: list[Array], slot: str, update: Any) -> bool:
        """Whether the all-variables update applies: the flat ``slot`` exists, every
        variable has one dtype, and ``update`` (the class's per-variable rule) is not a
        subclass's own."""
        return (slot in self._flat and getattr(type(self), "_update") is update
                and all(w.dtype == ws[0].dtype for w in ws))

    def _apply_flat(self, ws: list[Array], update: Array | list[Array], add: bool = False) -> None:
        """``w -= update`` (``add``: ``w += update``) for each variable, ``update`` flat
        in the order of ``ws``, or already one array per variable."""
        if isinstance(update, list):
            for w, part in zip(ws, update):
                if add:
                    w += part
                else:
                    w -= part
            return
        offset = 0
        for w in ws:
            n = w.size
            part = update[offset:offset + n].reshape(w.shape)
            if add:
                w += part
            else:
                w -= part
            offset += n

    def _build_slots(self, variables: Sequence[Array]) -> None:
        raise NotImplementedError

    def build(self, variables: Sequence[Array]) -> None:
        """Create the slot arrays for ``variables`` (called by the first ``apply``)."""
        if self.built:
            return
        self._variables = list(variables)
        self._shapes = [tuple(v.shape) for v in variables]
        like = lambda: [np.zeros(v.shape, v.dtype) for v in variables]  # noqa: E731
        self._averages = like() if self.use_ema else []
        self._accumulators = like() if self.gradient_accumulation_steps else []
        self._build_slots(variables)
        self.built = True

    @property
    def variables(self) -> list[Array]:
        """The optimizer state in Keras's order (the arrays themselves, not copies)."""
        lr = [] if isinstance(self._lr, LearningRateSchedule) else [self._lr]
        return [self._iterations, *lr, *self._averages, *self._accumulators, *self._slots]

    @property
    def variable_names(self) -> list[str]:
        """What each of :attr:`variables` is: ``iteration``, ``learning_rate``,
        ``average/k``, ``accumulator/k`` and ``<slot>/k`` (e.g. ``momentum/3``: the slot
        of the optimized variable number k). File converters map other layouts by it."""
        lr = [] if isinstance(self._lr, LearningRateSchedule) else ["learning_rate"]
        return (["iteration", *lr] + [f"average/{k}" for k in range(len(self._averages))]
                + [f"accumulator/{k}" for k in range(len(self._accumulators))]
                + list(self._slot_names))

    def set_variables(self, values: Sequence[Array]) -> None:
        """Overwrite the state, in the order of :attr:`variables` (build first)."""
        own = self.variables
        if len(values) != len(own):
            raise ConfigError(
                f"Optimizer '{self.name}' has {len(own)} variables but {len(values)} values were "
                "given" + ("; call build(model_variables) first." if not self.built else "."))
        for i, (dst, src) in enumerate(zip(own, values)):
            src = np.asarray(src)
            if src.shape != dst.shape:
                raise InputShapeError(f"Optimizer variable {i} has shape {dst.shape}, "
                                      f"the value given has shape {src.shape}.")
            dst[...] = src

    def save_own_variables(self, store: dict) -> None:
        """Keras's ``.keras`` layout: ``store["0"], store["1"], ...``."""
        for i, v in enumerate(self.variables):
            store[str(i)] = v.copy()

    def load_own_variables(self, store: Any) -> None:
        """Inverse of :meth:`save_own_variables`; like Keras, warns and skips on a count
        mismatch (e.g. the optimizer was saved before it was ever used)."""
        if len(store.keys()) != len(self.variables):
            warnings.warn(f"Skipping variable loading for optimizer '{self.name}', because it has "
                          f"{len(self.variables)} variables whereas the saved optimizer has "
                          f"{len(store.keys())} variables.", stacklevel=2)
            return
        self.set_variables([np.asarray(store[str(i)]) for i in range(len(store.keys()))])

    # -- the update ---------------------------------------------------------------------
    def apply_gradients(self, grads_and_vars: Iterable[tuple[Array | None, Array]]) -> int:
        """Keras's ``apply_gradients``: ``[(grad, variable), ...]``; returns ``iterations``."""
        grads, variables = zip(*grads_and_vars)
        self.apply(list(grads), list(variables))
        return int(self._iterations)

    def apply(self, grads: Sequence[Array | None],
              variables: Sequence[Array] | None = None) -> None:
        """Update ``variables`` in place from ``grads`` (one per variable, ``None`` = skip).

        Variables are matched to their slots by position in the list the optimizer was
        built with, so the same list (or fresh views of the same arrays) must be passed.
        """
        if variables is None:
            if not self.built:
                raise ConfigError("Pass `variables` to the first apply(), or call build() first.")
            variables = self._variables
        else:
            variables = list(variables)
            if not self.built:
                self.build(variables)
            shapes = [v.shape for v in variables]               # tuples already
            if shapes != self._shapes:
                raise InputShapeError(f"Optimizer '{self.name}' was built for variables of shapes "
                                      f"{self._shapes}, got {shapes}; create a new optimizer for "
                                      "different variables.")
        if len(grads) != len(variables):
            raise InputShapeError(f"Got {len(grads)} gradients for {len(variables)} variables.")
        idx = [i for i, g in enumerate(grads) if g is not None]
        if not idx:
            raise ConfigError("No gradients provided for any variable.")
        ws = [variables[i] for i in idx]
        gs = [g if type(g) is np.ndarray and g.dtype == w.dtype else
              np.asarray(g).astype(w.dtype, copy=False)
              for g, w in ((grads[i], variables[i]) for i in idx)]
        for w, g in zip(ws, gs):
            if g.shape != w.shape:
                raise InputShapeError(
                    f"Gradient of shape {g.shape} for variable of shape {w.shape}.")
        if self.loss_scale_factor is not None:
            gs = [g / g.dtype.type(self.loss_scale_factor) for g in gs]
        steps = self.gradient_accumulation_steps
        if not steps:
            self._step(idx, gs, ws)
        elif (int(self._iterations) + 1) % steps == 0:
            accs = [self._accumulators[i] for i in idx]
            self._step(idx, [(g + a) / a.dtype.type(steps) for g, a in zip(gs, accs)], ws)
            for a in accs:
                a[...] = 0
        else:
            for i, g in zip(idx, gs):
                self._accumulators[i] += g
        if self.use_ema:
            self._update_ema(variables)
        self._iterations[()] = self._iterations[()] + 1   # in place (``variables`` holds it)

    def _step(self, idx: list[int], gs: list[Array], ws: list[Array]) -> None:
        gs = self._clip(gs)
        lr = self._current_lr()
        if self.weight_decay is not None:
            for w in ws:                                  # torch backend: w *= 1 - wd * lr
                w *= w.dtype.type(1) - w.dtype.type(self.weight_decay) * lr.astype(w.dtype)
        if len(ws) == len(self._variables) and self._update_all(gs, ws, lr):
            return
        for i, g, w in zip(idx, gs, ws):
            self._update(i, g, w, lr.astype(w.dtype))

    def _update_all(self, gs: list[Array], ws: list[Array], lr: np.floating) -> bool:
        """The update of every variable at once, on the flat slots (same numbers as
        ``_update`` one variable at a time); False where it does not apply."""
        return False

    def _clip(self, gs: list[Array]) -> list[Array]:
        if self.clipnorm and self.clipnorm > 0:
            out = []
            for g in gs:                                  # each gradient on its own
                c = g.dtype.type(self.clipnorm)
                out.append(g * c / np.maximum(np.sqrt(np.sum(np.square(g), keepdims=True)), c))
            return out
        if self.global_clipnorm and self.global_clipnorm > 0:
            t = gs[0].dtype.type
            norm = np.sqrt(np.sum(np.stack([np.sum(np.square(g)) for g in gs])))
            c = self.global_clipnorm
            with np.errstate(divide="ignore", invalid="ignore"):
                # Keras's scale c * min(1/norm, 1/c): c/norm above the limit, c * f32(1/c)
                # (1 give or take an ulp) below it; adding (norm - norm) turns an inf/NaN
                # norm into a NaN scale instead of a silent zero.
                scale = t(c) * np.minimum(t(1) / norm, t(1.0 / c)) + (norm - norm)
            return [g * scale.astype(g.dtype) for g in gs]
        if self.clipvalue and self.clipvalue > 0:
            v = self.clipvalue
            return [np.clip(g, -v, v).astype(g.dtype, copy=False) for g in gs]
        return gs

    def _update_ema(self, variables: Sequence[Array]) -> None:
        step = self.iterations
        for w, avg in zip(variables, self._averages):
            t = w.dtype.type
            momentum = t(step != 0) * t(self.ema_momentum)  # first step copies the weights
            avg[...] = momentum * avg + (t(1) - momentum) * w
        freq = self.ema_overwrite_frequency
        if freq and (step + 1) % freq == 0:
            self.finalize_variable_values(variables)

    def finalize_variable_values(self, variables: Sequence[Array]) -> None:
        """With ``use_ema``, copy the moving averages into the weights (end of ``fit``)."""
        for w, avg in zip(variables, self._averages):
            w[...] = avg

    def _update(self, i: int, g: Array, w: Array, lr: np.floating) -> None:
        raise NotImplementedError

    # -- config -------------------------------------------------------------------------
    def get_config(self) -> dict[str, Any]:
        lr = (schedules_module.serialize(self._lr) if isinstance(self._lr, LearningRateSchedule)
              else float(self._lr))
        return {"name": self.name, "learning_rate": lr, "weight_decay": self.weight_decay,
                "clipnorm": self.clipnorm, "global_clipnorm": self.global_clipnorm,
                "clipvalue": self.clipvalue, "use_ema": self.use_ema,
                "ema_momentum": self.ema_momentum,
                "ema_overwrite_frequency": self.ema_overwrite_frequency,
                "loss_scale_factor": self.loss_scale_factor,
                "gradient_accumulation_steps": self.gradient_accumulation_steps}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> "Optimizer":
        config = dict(config)
        if isinstance(config.get("learning_rate"), dict):
            config["learning_rate"] = schedules_module.deserialize(config["learning_rate"])
        return cls(**config)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} name={self.name!r} learning_rate={self.learning_rate:g}>"
