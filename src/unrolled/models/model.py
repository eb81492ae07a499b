"""``Model``: what every model shares -- a graph of layers (:mod:`unrolled.models.graph`)
run forward and backward, its weights, its summary, and Keras's training methods, which it
hands to a trainer object (:class:`unrolled.training.trainer.Trainer`, composition: the
model does not inherit training; the trainer drives any object with this protocol).

The model protocol the trainer uses::

    model.prepare_inputs(x)      -> list of arrays, one per model input (checked, cast)
    model.forward(x, training)   -> (outputs, cache)     outputs: array, list or dict
    model.forward_prepared(xs, training, keep_cache)     the same on prepare_inputs' arrays
                                                         (each entry point converts x once)
    model.backward(dy, cache)    -> (d_inputs, grads)    grads: one per trainable weight
    model.chain_layers()         -> layers or None       a plain chain: a training step may
                                                         call their forward/backward itself
    model.output_names, model.layers, model.trainable_weights, get/set_weights

A model is also a layer (same protocol as :class:`unrolled.layers.Layer`), so a model can
be called on symbolic tensors inside another model.

``unrolled.Model(inputs, outputs)`` makes a :class:`~unrolled.models.functional.Functional`.
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from ..errors import ConfigError, InputShapeError
from ..layers.base import Layer, as_input_array
from .graph import Graph, GraphCache


class Model(Layer):
    """Base class of :class:`Sequential` and :class:`Functional` (Keras's ``Model``)."""

    supports_masking = True
    keras_call_kwargs = {"mask": None}  # what Keras records for a model called in a model

    def __new__(cls, *args: Any, **kwargs: Any) -> "Model":
        if cls is Model:  # Model(inputs, outputs) is a Functional model, as in Keras
            from .functional import Functional
            return object.__new__(Functional)
        return object.__new__(cls)

    def __init__(self, name: str | None = None, trainable: bool = True, dtype: Any = None) -> None:
        super().__init__(name=name, trainable=trainable, dtype=dtype)
        self._trainer: Any = None
        self.stop_training = False
        self.stop_evaluating = False
        self.stop_predicting = False
        self.history: Any = None

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> "Model":
        """``Model.from_config(cfg)``: a Functional model from Keras 3's config."""
        if cls is Model:
            from .functional import Functional
            return Functional.from_config(config)
        return super().from_config(config)  # type: ignore[return-value]

    # -- the graph (subclasses set it up) ---------------------------------------------------
    def graph(self) -> Graph:
        raise ConfigError(
            f"{type(self).__name__} has no graph of layers: unrolled builds models from "
            "symbolic tensors, Model(inputs, outputs), or Sequential([...]); subclassing Model "
            "with a custom call() is not supported (its backward pass could not be derived).")

    def get_layer(self, name: str | None = None, index: int | None = None) -> Layer:
        """The layer called ``name`` (or at position ``index`` of ``layers``), as in Keras."""
        layers = self.layers
        if index is not None and name is None:
            if not -len(layers) <= index < len(layers):
                raise ConfigError(f"Model {self.name!r} has {len(layers)} layers; index {index} is out of range.")
            return layers[index]
        for layer in layers:
            if layer.name == name:
                return layer
        raise ConfigError(f"No such layer: {name!r}. The layers of {self.name!r} are "
                          f"{[layer.name for layer in layers]}.")

    @property
    def input(self) -> Any:
        """The input tensor(s) (as the model was built: one, a list or a dict)."""
        return self._pack_inputs(list(self.graph().inputs))

    @property
    def output(self) -> Any:
        """The output tensor(s) (as the model was built: one, a list or a dict)."""
        return self._pack_outputs(list(self.graph().outputs))

    @property
    def output_names(self) -> list[str]:
        """One name per output (the output layers' names; a dict's keys), as in Keras."""
        return [t.layer.name for t in self.graph().outputs]

    def _pack_outputs(self, outs: list[Any]) -> Any:
        return outs[0] if len(outs) == 1 else list(outs)

    def _flatten_outputs(self, y: Any) -> list[Any]:
        if isinstance(y, dict):
            return [y.get(name) for name in self.output_names]
        return list(y) if isinstance(y, (list, tuple)) and len(self.graph().outputs) > 1 else [y]

    def _pack_inputs(self, xs: list[Any]) -> Any:
        return xs[0] if len(xs) == 1 else list(xs)

    def prepare_inputs(self, x: Any) -> list[np.ndarray]:
        raise NotImplementedError

    # -- layers and weights ------------------------------------------------------------------
    @property
    def layers(self) -> list[Layer]:
        raise NotImplementedError

    def _weight_layers(self) -> list[Layer]:
        return self.layers

    @property
    def weights(self) -> list[np.ndarray]:
        return [w for layer in self._weight_layers() for w in layer.weights]

    @property
    def trainable_weights(self) -> list[np.ndarray]:
        if not self.trainable:
            return []
        return [w for layer in self._weight_layers() for w in layer.trainable_weights]

    @property
    def non_trainable_weights(self) -> list[np.ndarray]:
        if not self.trainable:
            return self.weights
        return [w for layer in self._weight_layers() for w in layer.non_trainable_weights]

    @property
    def weight_names(self) -> list[str]:
        return [n for layer in self._weight_layers() for n in layer.weight_names]

    @property
    def regularizers(self) -> dict[str, Any]:  # type: ignore[override]
        return {}

    def regularized_weights(self) -> list[tuple[np.ndarray, Any]]:
        """``(weight, regularizer)`` for every regularized weight, each weight once (a
        shared layer too), nested models included."""
        out, seen = [], set()
        for layer in self._weight_layers():
            if isinstance(layer, Model):
                pairs = layer.regularized_weights()
            else:
                pairs = [(layer._weights[n], r) for n, r in (layer.regularizers or {}).items()
                         if n in layer._weights]
            for w, r in pairs:
                if id(w) not in seen:
                    seen.add(id(w))
                    out.append((w, r))
        return out

    def apply_constraints(self) -> None:
        """Project every constrained weight in place (each layer once; the trainer calls
        this after each optimizer update, as Keras does)."""
        seen: set[int] = set()
        for layer in self._weight_layers():
            if id(layer) not in seen and hasattr(layer, "apply_constraints"):
                seen.add(id(layer))
                layer.apply_constraints()

    def reset_states(self) -> None:
        """Zero the carried states of every stateful layer (Keras 2's ``model.reset_states()``;
        Keras 3 keeps only ``layer.reset_state()``, which works too)."""
        for layer in self._weight_layers():
            if isinstance(layer, Model):
                layer.reset_states()
            elif getattr(layer, "stateful", False) and hasattr(layer, "reset_state"):
                layer.reset_state()

    def get_weights(self) -> list[np.ndarray]:
        """Copies of all weights, layer by layer, in Keras's order and shapes."""
        return [w.copy() for w in self.weights]

    def set_weights(self, weights: list[Any]) -> None:
        """Overwrite all weights in place, in the order of :meth:`get_weights`; every
        shape is checked before anything is written."""
        layers = self._weight_layers()
        expected = sum(len(layer.weights) for layer in layers)
        if len(weights) != expected:
            raise ConfigError(f"Model {self.name!r} has {expected} weight arrays, got {len(weights)}.")
        k, checked = 0, []
        for layer in layers:
            n = len(layer.weights)
            checked.append(layer.check_weights(list(weights[k:k + n])))
            k += n
        for layer, arrays in zip(layers, checked):
            layer.set_weights(arrays)

    def check_weights(self, weights: list[Any]) -> list[np.ndarray]:
        arrays = [np.asarray(w) for w in weights]
        mine = self.weights
        if len(arrays) != len(mine) or any(a.shape != w.shape for a, w in zip(arrays, mine)):
            raise ConfigError(f"Model {self.name!r} expects weights of shapes "
                              f"{[w.shape for w in mine]}, got {[a.shape for a in arrays]}.")
        return arrays

    def count_params(self) -> int:
        return int(sum(layer.count_params() for layer in self._weight_layers()))

    def param_formula(self) -> str:
        parts = [f"{layer.name} {layer.count_params()}" for layer in self._weight_layers()
                 if layer.count_params()]
        return f"{self.count_params()} = sum of its layers ({', '.join(parts) or 'none'})"

    # -- computing ---------------------------------------------------------------------------
    def _masks(self, mask: Any, n: int) -> list[Any] | None:
        if mask is None:
            return None
        if n == 1 and not isinstance(mask, (list, tuple)):
            return [mask]
        masks = list(mask.values()) if isinstance(mask, dict) else list(mask)
        if len(masks) != n:
            raise InputShapeError(f"Model {self.name!r} has {n} inputs, got {len(masks)} masks.")
        return masks

    def forward(self, x: Any, training: bool = False, mask: Any = None) -> tuple[Any, GraphCache]:
        """Run the model; returns ``(outputs, cache)`` for :meth:`backward`. ``mask``:
        (batch, timesteps) bool per input (True = a real step), or None."""
        arrays = self.prepare_inputs(x)
        return self.forward_prepared(arrays, training, masks=self._masks(mask, len(arrays)))

    def forward_prepared(self, arrays: list[np.ndarray], training: bool = False,
                         keep_cache: bool = True, masks: list[Any] | None = None
                         ) -> tuple[Any, GraphCache]:
        """:meth:`forward` on the arrays :meth:`prepare_inputs` returned (not converted or
        checked again). ``keep_cache=False`` runs each layer's inference path and keeps
        no cache (what ``predict`` and ``model(x)`` need)."""
        outs, cache = self.graph().forward(arrays, training, masks, keep_cache=keep_cache)
        return self._pack_outputs(outs), cache

    def backward(self, dy: Any, cache: GraphCache) -> tuple[Any, list[np.ndarray]]:
        """dL/d inputs (like the inputs; None for integer inputs) and dL/d each trainable
        weight (order of ``trainable_weights``); ``dy`` is like the outputs (None: zero)."""
        graph = self.graph()
        d_in, grads = graph.backward(self._flatten_outputs(dy), cache)
        flat = graph.flat_grads(grads, self._weight_layers()) if self.trainable else []
        return self._pack_inputs(d_in), flat

    def chain_layers(self) -> list[Layer] | None:
        """The layers, in call order, if running the model is calling them one after the
        other on one array, each layer once, the last one's output being the model's
        output as is, and their weight gradients being ``backward``'s list in order (a
        plain chain, see :meth:`Graph.forward`; no masks). None otherwise. A training step
        can then call ``layer.forward`` / ``layer.backward`` itself, which are what
        :meth:`forward_prepared` and :meth:`backward` call for such a model."""
        if not self.built:                     # no graph yet (a step plan asked too early)
            return None
        graph = self.graph()
        if not graph.chain or not graph.calls or not all(node.single for node in graph.calls):
            return None
        layers = [node.layer for node in graph.calls]
        called = {id(layer) for layer in layers}
        if len(called) != len(layers):
            return None                                    # a layer called twice
        # ``backward`` lists the trainable weights of ``_weight_layers()`` in that order
        # (an InputLayer has none): the same list, layer by layer in call order.
        owners = [la for la in self._weight_layers() if la.trainable_weights]
        with_weights = [la for la in layers if la.trainable_weights]
        if len(owners) != len(with_weights) or any(a is not b for a, b in zip(owners, with_weights)):
            return None
        probe = np.empty(0)
        return layers if self._pack_outputs([probe]) is probe else None

    def activity_penalty(self, cache: Any) -> float:
        return self.graph().activity_penalty(cache) if isinstance(cache, GraphCache) else 0.0

    def call(self, x: Any, training: bool = False, mask: Any = None) -> Any:
        arrays = self.prepare_inputs(x)
        return self.forward_prepared(arrays, training, keep_cache=False,
                                     masks=self._masks(mask, len(arrays)))[0]

    def __call__(self, x: Any, training: bool = False, mask: Any = None) -> Any:
        return self.call(x, training=training, mask=mask)

    def compute_output_shape(self, input_shape: Any) -> Any:
        """Output shape(s) for ``input_shape`` (batch axis included; a list per input)."""
        graph = self.graph()
        several = len(graph.inputs) > 1
        shapes = graph.output_shapes(list(input_shape) if several else [input_shape])
        return self._pack_outputs(shapes)

    @property
    def creates_mask(self) -> bool:  # type: ignore[override]
        return any(getattr(layer, "creates_mask", False) for layer in self.layers)

    def compute_mask(self, x: Any, mask: Any) -> Any:
        """The masks of the outputs (as Keras's Functional.compute_mask): rerun the graph
        only if a mask can arise (an input mask, or a Masking layer inside)."""
        if mask is None and not self.creates_mask:
            return None
        arrays = self.prepare_inputs(x)
        _, cache = self.graph().forward(arrays, False, self._masks(mask, len(arrays)), keep_cache=False)
        return self._pack_outputs(cache.output_masks)

    # -- training (composition: a Trainer drives this model) ---------------------------------
    def _loop(self) -> Any:
        if self._trainer is None:
            from ..training.trainer import Trainer
            self._trainer = Trainer(self)
        return self._trainer

    def compile(self, optimizer: Any = "rmsprop", loss: Any = None, loss_weights: Any = None,
                metrics: Any = None, weighted_metrics: Any = None, run_eagerly: bool = False,
                steps_per_execution: int = 1, jit_compile: Any = "auto",
                auto_scale_loss: bool = True) -> None:
        """Choose the optimizer, the loss(es) and the metrics (Keras's names and defaults).
        With several outputs, ``loss``/``loss_weights``/``metrics`` may be lists (one
        entry per output) or dicts keyed by output name; see :mod:`unrolled.training.trainer`."""
        from ..training.trainer import Trainer
        self._trainer = Trainer(self)
        self._trainer.compile(optimizer=optimizer, loss=loss, loss_weights=loss_weights,
                              metrics=metrics, weighted_metrics=weighted_metrics,
                              run_eagerly=run_eagerly, steps_per_execution=steps_per_execution,
                              jit_compile=jit_compile, auto_scale_loss=auto_scale_loss)

    @property
    def compiled(self) -> bool:
        return self._trainer is not None and self._trainer.compiled

    @property
    def optimizer(self) -> Any:
        return None if self._trainer is None else self._trainer.optimizer

    @property
    def loss(self) -> Any:
        return None if self._trainer is None else self._trainer.loss

    @property
    def metrics(self) -> list[Any]:
        return [] if self._trainer is None else self._trainer.metrics

    @property
    def metrics_names(self) -> list[str]:
        return [] if self._trainer is None else self._trainer.metrics_names

    def reset_metrics(self) -> None:
        if self._trainer is not None:
            self._trainer.reset_metrics()

    def get_metrics_result(self) -> dict[str, float]:
        return {} if self._trainer is None else self._trainer.get_metrics_result()

    def get_compile_config(self) -> dict[str, Any] | None:
        return None if self._trainer is None else self._trainer.get_compile_config()

    def compile_from_config(self, config: dict[str, Any]) -> None:
        self._loop().compile_from_config(config)

    def optimizer_variables(self) -> list[np.ndarray]:
        """The optimizer's state arrays (empty before the optimizer is built)."""
        return [] if self._trainer is None else self._trainer.optimizer_variables()

    def fit(self, x: Any = None, y: Any = None, batch_size: int | None = None, epochs: int = 1,
            verbose: Any = "auto", callbacks: Sequence[Any] | None = None,
            validation_split: float = 0.0, validation_data: Any = None, shuffle: bool | str = True,
            class_weight: dict[int, float] | None = None, sample_weight: Any = None,
            initial_epoch: int = 0, steps_per_epoch: int | None = None,
            validation_steps: int | None = None, validation_batch_size: int | None = None,
            validation_freq: Any = 1) -> Any:
        """Train (see :meth:`unrolled.training.trainer.Trainer.fit`); returns the History."""
        return self._loop().fit(x, y, batch_size=batch_size, epochs=epochs, verbose=verbose,
                                callbacks=callbacks, validation_split=validation_split,
                                validation_data=validation_data, shuffle=shuffle,
                                class_weight=class_weight, sample_weight=sample_weight,
                                initial_epoch=initial_epoch, steps_per_epoch=steps_per_epoch,
                                validation_steps=validation_steps,
                                validation_batch_size=validation_batch_size,
                                validation_freq=validation_freq)

    def evaluate(self, x: Any = None, y: Any = None, batch_size: int | None = None,
                 verbose: Any = "auto", sample_weight: Any = None, steps: int | None = None,
                 callbacks: Sequence[Any] | None = None, return_dict: bool = False) -> Any:
        """Loss and metrics on ``x``, ``y`` (see :meth:`Trainer.evaluate`)."""
        return self._loop().evaluate(x, y, batch_size=batch_size, verbose=verbose,
                                     sample_weight=sample_weight, steps=steps,
                                     callbacks=callbacks, return_dict=return_dict)

    def predict(self, x: Any, batch_size: int | None = None, verbose: Any = "auto",
                steps: int | None = None, callbacks: Sequence[Any] | None = None) -> Any:
        """Outputs for ``x``, ``batch_size`` (default 32) at a time, in inference mode."""
        return self._loop().predict(x, batch_size=batch_size, verbose=verbose, steps=steps,
                                    callbacks=callbacks)

    def predict_on_batch(self, x: Any) -> Any:
        return self._loop().predict_on_batch(x)

    def train_on_batch(self, x: Any, y: Any = None, sample_weight: Any = None,
                       class_weight: dict[int, float] | None = None, return_dict: bool = False) -> Any:
        return self._loop().train_on_batch(x, y, sample_weight=sample_weight,
                                           class_weight=class_weight, return_dict=return_dict)

    def test_on_batch(self, x: Any, y: Any = None, sample_weight: Any = None,
                      return_dict: bool = False) -> Any:
        return self._loop().test_on_batch(x, y, sample_weight=sample_weight, return_dict=return_dict)

    # -- files (formats live in unrolled.io, models from files in models.saving) -------------
    def save(self, filepath: Any, overwrite: bool = True, include_optimizer: bool = True) -> None:
        """Write a Keras 3 ``.keras`` file, or a legacy ``.h5`` model that Keras 3 reads."""
        from . import saving
        _check_overwrite(filepath, overwrite)
        saving.save_model(self, filepath, include_optimizer=include_optimizer)

    def save_weights(self, filepath: Any, overwrite: bool = True) -> None:
        """Write the weights to a Keras 3 ``.weights.h5`` file."""
        from . import saving
        _check_overwrite(filepath, overwrite)
        saving.save_weights(self, filepath)

    def load_weights(self, filepath: Any) -> None:
        """Read weights written by :meth:`save_weights` (or Keras) into this model, in place."""
        from . import saving
        saving.load_weights(self, filepath)

    # -- description -------------------------------------------------------------------------
    def summary(self, print_fn: Any = None, explain: bool = True,
                return_string: bool = False) -> str | None:
        """Print Keras's summary table plus the formula behind every parameter count.
        ``return_string=True`` returns the text; ``print_fn`` receives it instead of print."""
        from .summary import summary_text

        text = summary_text(self, explain=explain)
        if return_string:
            return text
        (print_fn or print)(text)
        return None

    def kernel_report(self) -> list[str]:
        """Which compute kernel each recurrent layer used (or would use) and why."""
        from ..core.kernels.dispatch import kernel_report

        return kernel_report([layer for layer in self.layers if not isinstance(layer, Model)])


def _check_overwrite(filepath: Any, overwrite: bool) -> None:
    import os
    if not overwrite and os.path.exists(os.fspath(filepath)):
        raise FileExistsError(f"{os.fspath(filepath)} exists; pass overwrite=True to replace it.")


def convert_input(x: Any, tensor: Any, consumers: list[Layer], who: str) -> np.ndarray:
    """One model input as an array: integer ids kept as integers for layers that take
    them (``input_dtype_kind == "int"``, e.g. Embedding) or an integer ``Input`` dtype;
    otherwise the float dtype of the first layer using it."""
    int_layers = [c for c in consumers if getattr(c, "input_dtype_kind", "float") == "int"]
    if int_layers and hasattr(int_layers[0], "indices"):
        return int_layers[0].indices(x)      # checked integer ids (Embedding)
    kind = np.dtype(tensor.dtype).kind
    if kind == "b":                          # a mask given as a model input
        arr = np.asarray(x)
        if arr.dtype.kind not in "biuf":
            raise InputShapeError(f"{who} expects a boolean mask, got an array of dtype {arr.dtype}.")
        return arr.astype(bool, copy=False)
    if int_layers or kind in "iu":
        arr = np.asarray(x)
        if arr.dtype.kind not in "iufb" or arr.dtype == object:
            raise InputShapeError(f"{who} expects integer ids, got an array of dtype {arr.dtype}.")
        return arr
    dtype = consumers[0].dtype if consumers else np.dtype(tensor.dtype)
    return as_input_array(x, dtype, who)
