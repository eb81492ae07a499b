"""``compile`` / ``fit`` / ``evaluate`` / ``predict`` with Keras 3's semantics, driving any
model through a small protocol (see :mod:`unrolled.models.model`): ``prepare_inputs``,
``forward``, ``backward``, ``output_names``, ``trainable_weights``, ``get/set_weights``.
A model owns a :class:`Trainer` (composition); the trainer never imports models or files.

One training step on a batch ``x`` (batch, timesteps, features), ``y`` (batch, ...)::

    y_pred, cache  = model.forward_prepared(xs, training=True)         # x converted once
    loss, dy       = loss_fn.value_and_grad(y, y_pred, sample_weight)   # mean over the batch
    loss          += regularization penalties (each regularized weight once)
    _, grads       = model.backward(dy, cache)                          # one per trainable weight
    optimizer.apply(grads, model.trainable_weights)                     # in place
    model.apply_constraints()                                           # Keras: after the update

What the model has of these (trainable weights, regularized weights, activity penalties,
constraints) is worked out once, in a :class:`~unrolled.training.step_plan.StepPlan`
kept until the layers change, so a step of a plain model does only the work above. For a
plain chain of layers (``plan.chain``: a usual Sequential, one output, no masks) the step
calls each layer's ``forward``/``backward`` itself -- what ``forward_prepared``/``backward``
would call -- and checks each input shape once. ``train_on_batch``/``test_on_batch`` take
float arrays of the shapes and dtypes they last accepted as they are.

With several outputs each output's loss is computed as above, logged unweighted as
``<output>_loss``, multiplied by its ``loss_weights`` entry and summed into ``loss``.

What is logged follows Keras exactly:

* ``loss`` is a running mean over the epoch's batches *weighted by batch size*
  (``sum(loss_b * n_b) / sum(n_b)``), so a short last batch counts for what it holds;
  the sample weights enter each batch's loss, not this average;
* ``metrics`` (e.g. ``["mae"]``) ignore ``sample_weight``; ``weighted_metrics`` use it;
  both average over all samples seen so far in the epoch;
* log keys are sorted (``loss``, ``mae``, ``val_loss``, ``val_mae``); a repeated metric
  name gets ``_1``, ``_2``... and a weighted one that clashes becomes ``weighted_<name>``;
* validation (``validation_split`` takes the *last* fraction of the arrays, before any
  shuffling) runs after the epoch's last step and adds ``val_<key>`` for each key.
"""
from __future__ import annotations

import math
import warnings
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

from ..errors import ConfigError, InputShapeError
from ..layers.base import state_version
from .batching import BatchIterator, class_weight_to_sample_weights, unpack_data
from .callback_base import pythonify_logs
from .compiling import CompileMixin
from .step_plan import StepPlan

if TYPE_CHECKING:
    from .callbacks import Callback, CallbackList, History

# Callbacks (with their csv and progress-bar machinery) and the loss reduction are imported
# inside the methods that use them: running a model should not load the training stack.


def _take(a: Any, index: Any) -> Any:
    """Rows ``index`` of an array, of each array of a list, or None."""
    if a is None:
        return None
    if isinstance(a, list):
        return [None if v is None else v[index] for v in a]
    return a[index]


def _fresh(out: Any, inputs: Any) -> Any:
    """``out`` as arrays of its own: a model whose output is a view of its input (a
    Reshape, a Permute...) gets a copy, as Keras returns new arrays."""
    if isinstance(out, dict):
        return {k: _fresh(v, inputs) for k, v in out.items()}
    if isinstance(out, list):
        return [_fresh(v, inputs) for v in out]
    if isinstance(inputs, dict):
        inputs = list(inputs.values())
    for a in inputs if isinstance(inputs, (list, tuple)) else [inputs]:
        if isinstance(a, np.ndarray) and np.may_share_memory(out, a):
            return out.copy()
    return out


def _join(parts: list[Any], xs: list[np.ndarray]) -> Any:
    """``predict``'s batches joined along the batch axis (one batch: returned as is)."""
    if len(parts) == 1:
        return _fresh(parts[0], xs)
    if isinstance(parts[0], dict):
        return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    if isinstance(parts[0], list):
        return [np.concatenate(p) for p in zip(*parts)]
    return np.concatenate(parts)


class Trainer(CompileMixin):
    """The training loop of one model: ``Trainer(model)``; the model's ``compile``,
    ``fit``, ``evaluate``, ``predict``... delegate here. Data are kept as one array per
    model input (``xs``) and one per output (``ys``)."""

    def __init__(self, model: Any) -> None:
        super().__init__()
        self.model = model
        self.output_names = list(getattr(model, "output_keys", None) or model.output_names)
        self.n_outputs = len(self.output_names)
        self._plan: StepPlan | None = None
        # (x shape, x dtype, y shape, y dtype, layer-state version, optimizer) of arrays _arrays took
        # as they were: the same again are taken without a second look.
        self._accepted: tuple[Any, ...] | None = None

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_plan"] = state["_accepted"] = None   # versions are per process
        return state

    def step_plan(self) -> StepPlan:
        """What a training step of this model needs (see :mod:`.step_plan`), rebuilt
        whenever the layers' state changed since it was made."""
        plan = self._plan
        if plan is None or plan.version != state_version():
            plan = self._plan = StepPlan(self.model)
        return plan

    @property
    def trainable_weights(self) -> list[np.ndarray]:
        return self.model.trainable_weights

    # -- one step ----------------------------------------------------------------------
    def _loss_and_grad(self, y: np.ndarray, y_pred: Any, sample_weight: Any,
                       mask: Any = None) -> tuple[float, np.ndarray]:
        if isinstance(y_pred, (list, tuple)):
            raise ConfigError("Training needs a model with a single output; the last layer "
                              "returns a list (return_state=True?).")
        if mask is None:
            value, dy = self._loss_fn.value_and_grad(y, y_pred, sample_weight)
        else:  # the output carries a mask (Masking ... return_sequences): Keras's apply_mask
            value, dy = self._loss_fn.value_and_grad(y, y_pred, sample_weight, mask=mask)
        if self._loss_weight is not None:
            value = value * self._loss_weight
            dy = dy * dy.dtype.type(self._loss_weight)
        return value, dy

    def _losses_and_grads(self, ys: list[Any], preds: list[Any], sample_weight: Any,
                          masks: list[Any]) -> tuple[float, list[Any], list[float]]:
        """Several outputs: the weighted total, one gradient per output (None: no loss on
        it) and each output's unweighted loss."""
        total, dys, values = 0.0, [], []
        for k, out in enumerate(self._outputs):
            fn = out["loss"]
            if fn is None:
                dys.append(None)
                values.append(0.0)
                continue
            sw = sample_weight[k] if isinstance(sample_weight, list) else sample_weight
            if masks[k] is None:
                value, dy = fn.value_and_grad(ys[k], preds[k], sw)
            else:
                value, dy = fn.value_and_grad(ys[k], preds[k], sw, mask=masks[k])
            values.append(value)
            if out["weight"] is not None:
                value = value * out["weight"]
                dy = dy * dy.dtype.type(out["weight"])
            total = total + value
            dys.append(dy)
        return total, dys, values

    def _update_metrics(self, y: np.ndarray, y_pred: np.ndarray, loss: float,
                        sample_weight: Any, mask: Any = None) -> None:
        self._loss_tracker.update_state(loss, sample_weight=len(y_pred))
        if self._compiled_metrics is None:
            self._build_metrics(y, y_pred)
        if not self._compiled_metrics:
            return
        if mask is not None and sample_weight is not None:
            sample_weight = self._mask_weighted(sample_weight, mask)
        for _, metric, weighted in self._compiled_metrics:
            weights = sample_weight if weighted else None
            if mask is not None and getattr(metric, "applies_mask", False):
                metric.update_state(y, y_pred, sample_weight=weights, mask=mask)
            else:
                metric.update_state(y, y_pred, sample_weight=weights)

    def _update_metrics_multi(self, ys: list[Any], preds: list[Any], total: float,
                              values: list[float], sample_weight: Any, masks: list[Any]) -> None:
        n = len(preds[0])
        self._loss_tracker.update_state(total, sample_weight=n)
        if self._compiled_metrics is None:
            built, owners = [], []
            for k, out in enumerate(self._outputs):
                items = self._metric_list(out["metric_args"], out["loss"], ys[k], preds[k],
                                          f"{out['name']}_")
                built += items
                owners += [k] * len(items)
            self._compiled_metrics, self._metric_owner = built, owners
        for k, out in enumerate(self._outputs):
            if out["tracker"] is not None:
                out["tracker"].update_state(values[k], sample_weight=n)
        for (_, metric, weighted), k in zip(self._compiled_metrics, self._metric_owner):
            sw = sample_weight[k] if isinstance(sample_weight, list) else sample_weight
            weights = sw if weighted else None
            if masks[k] is not None and getattr(metric, "applies_mask", False):
                metric.update_state(ys[k], preds[k], sample_weight=weights, mask=masks[k])
            else:
                metric.update_state(ys[k], preds[k], sample_weight=weights)

    def _mask_weighted(self, sample_weight: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """The sample weights Keras's weighted metrics see under a mask: its loss multiplies
        the batch's ``sample_weight`` tensor *in place* by the loss's mask weights
        (``total / valid`` on unmasked entries, see ``mask_weights``), so the metrics get
        that product -- a per-batch factor that reweights batches against each other."""
        from .loss_reduction import mask_weights, squeeze_or_expand_to_same_rank

        w = mask_weights(np.asarray(mask, bool), self._loss_fn.reduction, sample_weight.dtype)
        w, sample_weight = squeeze_or_expand_to_same_rank(w, sample_weight)
        return sample_weight * w

    def _step(self, xs: list[np.ndarray], ys: list[Any], sample_weight: Any,
              training: bool, results: bool = True) -> dict[str, float] | None:
        """One batch: forward, loss, (training) backward and update, metrics. Returns
        the running results as logs, or None with ``results=False`` (nothing reads them)."""
        model = self.model
        plan = self.step_plan()
        if (plan.chain is not None and self.n_outputs == 1 and not plan.activity
                and (plan.weights or not training)):
            y, y_pred, loss = self._chain_step(plan, xs[0], ys[0], sample_weight, training)
            self._update_metrics(y, y_pred, loss, sample_weight)
            return self.get_metrics_result() if results else None
        y_pred, cache = model.forward_prepared(xs, training)
        masks = list(getattr(cache, "output_masks", None) or [getattr(cache, "output_mask", None)])
        penalty, reg_grads = plan.regularization() if plan.regularizes else (0.0, None)
        activity = model.activity_penalty(cache) if plan.activity else 0.0
        if self.n_outputs == 1:
            y, mask = ys[0], masks[0]
            loss, dy = self._loss_and_grad(y, y_pred, sample_weight, mask)
            if penalty or activity:
                loss = loss + penalty + activity
            d_out: Any = dy
        else:
            preds = model._flatten_outputs(y_pred)
            loss, dys, values = self._losses_and_grads(ys, preds, sample_weight, masks)
            if penalty or activity:
                loss = loss + penalty + activity
            d_out = model._pack_outputs(dys)
        if training:
            weights = plan.weights if plan.fixed_weights else model.trainable_weights
            if weights:
                _, grads = model.backward(d_out, cache)
                if reg_grads:
                    grads = plan.add_regularization(grads, weights, reg_grads)
                self.optimizer.apply(grads, weights)
                if plan.constrained:
                    plan.apply_constraints()      # Keras: right after the update
            else:
                warnings.warn("The model does not have any trainable weights.", stacklevel=5)
        if self.n_outputs == 1:
            self._update_metrics(ys[0], y_pred, loss, sample_weight, masks[0])
        else:
            self._update_metrics_multi(ys, preds, loss, values, sample_weight, masks)
        return self.get_metrics_result() if results else None

    def _chain_step(self, plan: StepPlan, x: np.ndarray, y: Any, sample_weight: Any,
                    training: bool) -> tuple[Any, np.ndarray, float]:
        """:meth:`_step` of a plain chain of layers (``plan.chain``; one output, no masks,
        no activity penalty): the calls ``model.forward_prepared`` and ``model.backward``
        make for it, without their bookkeeping. Returns ``(y, y_pred, loss)``."""
        chain = plan.chain
        caches = []
        h = x
        check = x.shape != plan.checked      # every shape is checked once per plan
        for layer in chain:                  # type: ignore[union-attr]
            if check:
                layer.validate_input(h.shape)
            h, cache = layer.forward(h, training=training)
            caches.append(cache)
        if check:
            plan.checked = x.shape
        penalty, reg_grads = plan.regularization() if plan.regularizes else (0.0, None)
        loss, dy = self._loss_and_grad(y, h, sample_weight)
        if penalty:
            loss = loss + penalty + 0.0        # as _step adds the (zero) activity penalty
        if training:
            # Model.backward's list: per layer in call order, its gradients, or zeros for
            # a layer no gradient reaches (an earlier layer's input gradient was None).
            per_layer: list[Any] = [None] * len(caches)
            for k in range(len(caches) - 1, -1, -1):
                if dy is None:
                    break
                layer = chain[k]             # type: ignore[index]
                dy, g = layer.backward(dy, caches[k])
                if g and layer.trainable:
                    per_layer[k] = g
            grads: list[Any] = []
            for layer, g in zip(chain, per_layer):   # type: ignore[arg-type]
                grads.extend(g if g is not None else [np.zeros_like(w) for w in layer.trainable_weights])
            if reg_grads:
                grads = plan.add_regularization(grads, plan.weights, reg_grads)
            self.optimizer.apply(grads, plan.weights)
            if plan.constrained:
                plan.apply_constraints()      # Keras: right after the update
        return y, h, loss

    def _stop_if_weights_diverged(self, epoch: int, step: int) -> None:
        """After an update (and the callbacks): NaN/inf weights stop training, saying so."""
        plan = self._plan
        if plan is not None and plan.valid() and plan.weights_finite():
            return
        from .callbacks import nonfinite_weights

        bad = nonfinite_weights(self.model)
        if bad:
            self.model.stop_training = True
            warnings.warn(
                f"Epoch {epoch + 1}, batch {step}: the update made weights non-finite "
                f"({', '.join(bad[:5])}); training stopped. The weights are NOT finite now: "
                "add callbacks.TerminateOnNaN() to restore the last finite ones, and lower "
                "the learning rate or set clipnorm.", RuntimeWarning, stacklevel=4)

    def _train_step(self, xs: list[np.ndarray], ys: list[Any], sample_weight: Any,
                    results: bool = True) -> dict[str, float]:
        return self._step(xs, ys, sample_weight, True, results)  # type: ignore[return-value]

    def _test_step(self, xs: list[np.ndarray], ys: list[Any], sample_weight: Any,
                   results: bool = True) -> dict[str, float]:
        return self._step(xs, ys, sample_weight, False, results)  # type: ignore[return-value]

    # -- inputs ------------------------------------------------------------------------
    def _arrays(self, x: Any, y: Any, sample_weight: Any, who: str
                ) -> tuple[list[np.ndarray], list[Any] | None, Any]:
        """Convert and check ``x`` (one array per model input), ``y`` (one per output)
        and the sample weights; build the model and the optimizer if needed."""
        if (type(x) is np.ndarray and type(y) is np.ndarray and sample_weight is None
                and self._accepted == (x.shape, x.dtype, y.shape, y.dtype, state_version(),
                                       self.optimizer)):
            return [x], [y], None          # arrays like the last ones, which needed nothing
        if x is None:
            raise InputShapeError(f"{who} needs input data x, got None.")
        xs = self.model.prepare_inputs(x)  # dtype conversion, shape checks, build
        first = xs[0]
        n = len(first)
        dtype = first.dtype if first.dtype.kind == "f" else np.dtype(getattr(self.model, "dtype", "float32"))
        ys = None
        if y is not None:
            ys = []
            targets = [y] if type(y) is np.ndarray and self.n_outputs == 1 else self._split_targets(y, who)
            for k, yk in enumerate(targets):
                if yk is None:
                    ys.append(None)
                    continue
                if type(yk) is not np.ndarray:
                    yk = np.asarray(yk)
                if yk.dtype != dtype and (yk.dtype.kind == "f" or yk.dtype == bool):
                    yk = yk.astype(dtype)
                if yk.ndim == 0 or len(yk) != n:
                    what = "y" if self.n_outputs == 1 else f"y for output {self.output_names[k]!r}"
                    raise InputShapeError(
                        f"{who}: x and {what} must have the same number of samples (axis 0); x has "
                        f"{n} (shape {first.shape}), y has {len(yk) if yk.ndim else 'none'} (shape {yk.shape})."
                    )
                ys.append(yk)
        if sample_weight is not None:
            if isinstance(sample_weight, (list, tuple, dict)) and self.n_outputs > 1:
                sample_weight = [None if w is None else np.asarray(w, dtype=dtype)
                                 for w in self._split_targets(sample_weight, who)]
                checks = [w for w in sample_weight if w is not None]
            else:
                sample_weight = np.asarray(sample_weight, dtype=dtype)
                checks = [sample_weight]
            for w in checks:
                if w.ndim == 0 or len(w) != n:
                    raise InputShapeError(
                        f"{who}: sample_weight must have one entry per sample; x has {n} "
                        f"samples, sample_weight has shape {w.shape}."
                    )
        if n == 0:
            raise InputShapeError(f"{who} got 0 samples (x has shape {first.shape}).")
        if self.optimizer is not None and not self.optimizer.built and self.trainable_weights:
            self.optimizer.build(self.trainable_weights)
        if (len(xs) == 1 and xs[0] is x and x.dtype.kind == "f" and ys is not None
                and len(ys) == 1 and ys[0] is y and sample_weight is None):
            # Floats taken as they were, checked, the model and the optimizer built: the
            # same shapes and dtypes need no look again while the layers stay as they are.
            # (Integer ids are never skipped: Embedding checks their values every call.)
            self._accepted = (x.shape, x.dtype, y.shape, y.dtype, state_version(), self.optimizer)
        return xs, ys, sample_weight

    def _split_targets(self, y: Any, who: str) -> list[Any]:
        """``y`` as one entry per output (a list in output order or a dict by name)."""
        if self.n_outputs == 1:
            if isinstance(y, dict):
                return [y[self.output_names[0]]] if self.output_names[0] in y else list(y.values())[:1]
            return [y]
        try:
            return self.model._flatten_outputs(y)
        except InputShapeError as err:
            raise InputShapeError(f"{who}: {err}") from None

    _take = staticmethod(_take)

    # -- fit ---------------------------------------------------------------------------
    def fit(self, x: Any = None, y: Any = None, batch_size: int | None = None, epochs: int = 1,
            verbose: Any = "auto", callbacks: Sequence[Callback] | None = None,
            validation_split: float = 0.0, validation_data: Any = None, shuffle: bool | str = True,
            class_weight: dict[int, float] | None = None, sample_weight: Any = None,
            initial_epoch: int = 0, steps_per_epoch: int | None = None,
            validation_steps: int | None = None, validation_batch_size: int | None = None,
            validation_freq: int | Sequence[int] = 1) -> History:
        """Train for ``epochs`` epochs on ``x`` (samples, timesteps, features) and ``y``.

        Returns the :class:`History` (also ``model.history``): ``history.history["loss"]``
        holds one value per epoch. ``batch_size`` defaults to 32; the last batch of an
        epoch may be smaller. ``shuffle`` reshuffles the training samples every epoch from
        the generator seeded by :func:`unrolled.set_random_seed`. ``validation_split``
        holds out the *last* fraction of the samples (before shuffling); it is ignored
        when ``validation_data=(x_val, y_val[, sample_weight])`` is given.
        ``class_weight`` (``{class: weight}``) becomes per-sample weights.
        ``verbose``: 0 silent, 1 progress bar, 2 one line per epoch, "auto" (1 on a
        terminal, else 2). See :mod:`unrolled.training.callback_base` for the hook order.
        """
        from .callbacks import CallbackList

        self._assert_compiled("fit")
        if isinstance(epochs, bool) or not isinstance(epochs, (int, np.integer)) or epochs < 0:
            raise ConfigError(f"epochs must be a non-negative integer, got {epochs!r}.")
        if class_weight is not None:
            if sample_weight is not None:
                raise ConfigError("Arguments `sample_weight` and `class_weight` cannot be "
                                  "specified at the same time.")
            if y is None:
                raise ConfigError("class_weight needs targets y.")
            sample_weight = class_weight_to_sample_weights(y, class_weight)
        x, y, sample_weight = self._arrays(x, y, sample_weight, "fit")
        if y is None:
            raise InputShapeError("fit needs targets y (the model has a loss to compute).")
        if validation_split and validation_data is None:
            if not 0 < validation_split < 1:
                raise ConfigError(f"validation_split must be in (0, 1), got {validation_split}.")
            n = len(x[0])
            split_at = int(math.floor(n * (1.0 - validation_split)))
            if split_at == 0 or split_at == n:
                raise ConfigError(
                    f"Training data contains {n} samples, which is not sufficient to split "
                    f"it into a validation and training set as specified by "
                    f"`validation_split={validation_split}`."
                )
            tail, head = slice(split_at, None), slice(0, split_at)
            val = (_take(x, tail), _take(y, tail), _take(sample_weight, tail))
            x, y, sample_weight = _take(x, head), _take(y, head), _take(sample_weight, head)
        elif validation_data is not None:
            val = self._arrays(*unpack_data(validation_data, "validation_data"), "validation_data")
        else:
            val = None

        if shuffle and any(getattr(la, "stateful", False) for la in getattr(self.model, "layers", ())):
            warnings.warn("fit(shuffle=True) on a model with stateful layers: each batch starts "
                          "from the states the previous batch left, so shuffling pairs them with "
                          "unrelated samples. Pass shuffle=False (Keras 3 does not warn).",
                          UserWarning, stacklevel=3)
        batches = BatchIterator(len(x[0]), batch_size, shuffle, steps_per_epoch)
        cbs = callbacks if isinstance(callbacks, CallbackList) else CallbackList(
            callbacks, add_history=True, add_progbar=verbose != 0, model=self.model, verbose=verbose,
            epochs=epochs, steps=batches.num_batches)
        self.model.stop_training = False
        training_logs: dict[str, Any] = {}
        one = len(x) == 1 and len(y) == 1 and y[0] is not None and sample_weight is None
        x0, y0 = x[0], y[0]
        cbs.on_train_begin()
        for epoch in range(initial_epoch, epochs):
            self.reset_metrics()
            cbs.on_epoch_begin(epoch)
            logs: dict[str, Any] | None = {}
            # Without a batch hook that does something, a step updates the running means
            # but makes no logs; the epoch's logs are read once after its last step.
            begin, end = cbs.handles("on_train_batch_begin"), cbs.handles("on_train_batch_end")
            for step, index in batches.epoch():
                if begin:
                    cbs.on_train_batch_begin(step)
                if one:
                    logs = self._train_step([x0[index]], [y0[index]], None, results=end)
                else:
                    logs = self._train_step(_take(x, index), _take(y, index),
                                            _take(sample_weight, index), results=end)
                if end:
                    cbs.on_train_batch_end(step, logs)
                if not self.model.stop_training:
                    self._stop_if_weights_diverged(epoch, step)
                if self.model.stop_training:
                    break
            epoch_logs = dict(self.get_metrics_result() if logs is None else logs)
            if val is not None and self._should_validate(epoch, validation_freq):
                val_logs = self._evaluate(*val, batch_size=validation_batch_size or batches.batch_size,
                                          steps=validation_steps, callbacks=cbs)
                epoch_logs.update({f"val_{k}": v for k, v in val_logs.items()})
            cbs.on_epoch_end(epoch, epoch_logs)
            training_logs = epoch_logs
            if self.model.stop_training:
                break
        plan = self._plan                 # the trainable weights, as the last step saw them
        weights = ([] if epochs <= 0 else plan.weights if plan is not None and plan.valid()
                   and plan.fixed_weights else self.trainable_weights)
        if weights:
            self.optimizer.finalize_variable_values(weights)
        cbs.on_train_end(logs=training_logs)
        return self.model.history

    @staticmethod
    def _should_validate(epoch: int, freq: int | Sequence[int]) -> bool:
        if isinstance(freq, (int, np.integer)) and not isinstance(freq, bool):
            return (epoch + 1) % freq == 0
        if isinstance(freq, (list, tuple)):
            return epoch + 1 in freq
        raise ConfigError(f"Expected `validation_freq` to be a list or int. Received: {freq!r}.")

    # -- evaluate / predict ------------------------------------------------------------
    def _evaluate(self, x: np.ndarray, y: np.ndarray, sample_weight: Any, batch_size: int | None,
                  steps: int | None, callbacks: CallbackList) -> dict[str, Any]:
        batches = BatchIterator(len(x[0]), batch_size, False, steps)
        self.model.stop_evaluating = False
        callbacks.on_test_begin()
        logs: dict[str, Any] | None = {}
        self.reset_metrics()
        begin, end = callbacks.handles("on_test_batch_begin"), callbacks.handles("on_test_batch_end")
        for step, index in batches.epoch():       # per-batch logs only for a hook that reads them
            if begin:
                callbacks.on_test_batch_begin(step)
            logs = self._test_step(_take(x, index), _take(y, index), _take(sample_weight, index),
                                   results=end)
            if end:
                callbacks.on_test_batch_end(step, logs)
            if self.model.stop_evaluating:
                break
        logs = pythonify_logs(self.get_metrics_result() if logs is None else logs)
        callbacks.on_test_end(logs)
        return logs

    def evaluate(self, x: Any = None, y: Any = None, batch_size: int | None = None,
                 verbose: Any = "auto", sample_weight: Any = None, steps: int | None = None,
                 callbacks: Sequence[Callback] | None = None, return_dict: bool = False) -> Any:
        """Loss (and metrics) on ``x`` (samples, timesteps, features), ``y``, batch by batch
        (``batch_size`` default 32), with the same size-weighted averaging as ``fit``.

        Returns the loss alone if no metrics were compiled, else ``[loss, metric, ...]``;
        ``return_dict=True`` returns ``{"loss": ..., "mae": ...}``.
        """
        from .callbacks import CallbackList

        self._assert_compiled("evaluate")
        x, y, sample_weight = self._arrays(x, y, sample_weight, "evaluate")
        if y is None:
            raise InputShapeError("evaluate needs targets y.")
        steps_total = BatchIterator(len(x[0]), batch_size, False, steps).num_batches
        cbs = callbacks if isinstance(callbacks, CallbackList) else CallbackList(
            callbacks, add_progbar=verbose != 0, model=self.model, verbose=verbose, epochs=1,
            steps=steps_total)
        logs = self._evaluate(x, y, sample_weight, batch_size, steps, cbs)
        return logs if return_dict else self._flatten_in_order(logs)

    def predict(self, x: Any, batch_size: int | None = None, verbose: Any = "auto",
                steps: int | None = None, callbacks: Sequence[Callback] | None = None) -> Any:
        """Outputs for ``x`` (samples, timesteps, features), ``batch_size`` (default 32) at a
        time, in inference mode (Dropout off). ``x`` is converted and checked once; each
        batch runs the layers' inference paths (no caches for a backward pass)."""
        model = self.model
        xs = model.prepare_inputs(x)
        if len(xs[0]) == 0:  # an empty batch gives an empty result of the right shape
            return model.forward_prepared(xs, False, keep_cache=False)[0]
        batches = BatchIterator(len(xs[0]), batch_size, False, steps)
        model.stop_predicting = False
        if not callbacks and verbose == 0:   # nothing to call back: no hooks, no logs
            forward = model.forward_prepared
            if batches.size == batches.num_batches == 1:   # one batch: all of xs
                return _fresh(forward(xs, False, keep_cache=False)[0], xs)
            return _join([forward(_take(xs, index), False, keep_cache=False)[0]
                          for _, index in batches.epoch()], xs)
        from .callbacks import CallbackList
        cbs = callbacks if isinstance(callbacks, CallbackList) else CallbackList(
            callbacks, add_progbar=verbose != 0, model=model, verbose=verbose, epochs=1,
            steps=batches.num_batches)
        cbs.on_predict_begin()
        parts = []
        for step, index in batches.epoch():
            cbs.on_predict_batch_begin(step)
            out = model.forward_prepared(_take(xs, index), False, keep_cache=False)[0]
            parts.append(out)
            cbs.on_predict_batch_end(step, {"outputs": out})
            if model.stop_predicting:
                break
        cbs.on_predict_end()
        return _join(parts, xs)

    def predict_on_batch(self, x: Any) -> Any:
        """Outputs for one batch ``x`` (batch, timesteps, features), in inference mode."""
        model = self.model
        return _fresh(model.forward_prepared(model.prepare_inputs(x), False, keep_cache=False)[0], x)

    # -- single batches ----------------------------------------------------------------
    def train_on_batch(self, x: Any, y: Any = None, sample_weight: Any = None,
                       class_weight: dict[int, float] | None = None, return_dict: bool = False) -> Any:
        """One gradient step on one batch; returns that batch's loss (and metrics), as Keras."""
        self._assert_compiled("train_on_batch")
        if class_weight is not None:
            if sample_weight is not None:
                raise ConfigError("Arguments `sample_weight` and `class_weight` cannot be "
                                  "specified at the same time.")
            sample_weight = class_weight_to_sample_weights(y, class_weight)
        x, y, sample_weight = self._arrays(x, y, sample_weight, "train_on_batch")
        if y is None:
            raise InputShapeError("train_on_batch needs targets y.")
        self.reset_metrics()
        logs = self._train_step(x, y, sample_weight)
        if len(logs) == 1 and not return_dict:   # the loss alone (a Python float already)
            return next(iter(logs.values()))
        logs = pythonify_logs(logs)
        return logs if return_dict else self._flatten_in_order(logs)

    def test_on_batch(self, x: Any, y: Any = None, sample_weight: Any = None,
                      return_dict: bool = False) -> Any:
        """Loss (and metrics) of one batch, without updating the weights."""
        self._assert_compiled("test_on_batch")
        x, y, sample_weight = self._arrays(x, y, sample_weight, "test_on_batch")
        if y is None:
            raise InputShapeError("test_on_batch needs targets y.")
        self.reset_metrics()
        logs = self._test_step(x, y, sample_weight)
        if len(logs) == 1 and not return_dict:   # the loss alone (a Python float already)
            return next(iter(logs.values()))
        logs = pythonify_logs(logs)
        return logs if return_dict else self._flatten_in_order(logs)

    # -- state -------------------------------------------------------------------------
    def optimizer_variables(self) -> list[np.ndarray]:
        """The optimizer's state arrays (empty before the optimizer is built)."""
        if self.optimizer is None or not getattr(self.optimizer, "built", False):
            return []
        return list(self.optimizer.variables)
