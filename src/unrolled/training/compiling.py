"""``compile`` and what it decides -- the optimizer, the loss (and its weight), the metrics
and the log name of each -- plus the compile config that ``.keras`` files store.

Log names follow Keras: ``loss`` first, then each metric under its given name; a repeated
metric name gets ``_1``, ``_2``... and a weighted one that clashes becomes
``weighted_<name>``. With several outputs (Keras 3's names): ``loss`` is the weighted
total, ``<output>_loss`` each output's unweighted loss, ``<output>_<metric>`` its metrics;
``loss``/``loss_weights``/``metrics`` are then one entry per output (a list, or a dict
keyed by output name; a single loss applies to every output).
:class:`~unrolled.training.trainer.Trainer` builds the training loops on this mixin.
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from ..errors import ConfigError

# losses, metrics and optimizers are imported where they are used, so that a model that is
# never compiled (built, run, summarised, loaded for inference) does not load them.


class CompileMixin:
    """The compiled state of a model: ``optimizer``, ``loss`` and the metrics with their
    log names, set by :meth:`compile`; ``metrics`` / ``reset_metrics`` /
    ``get_metrics_result`` read them."""

    def __init__(self) -> None:
        self.n_outputs = 1
        self.output_names: list[str] = []
        self._outputs: list[dict[str, Any]] = []   # several outputs: per-output loss and metrics
        self.compiled = False
        self.optimizer: Any = None
        self.loss: Any = None
        self._loss_fn: Any = None
        self._loss_weight: float | None = None
        self._loss_tracker: Any = None
        self._metric_args: tuple[list[Any], list[Any]] = ([], [])
        self._compiled_metrics: list[tuple[str, Any, bool]] | None = None  # (log name, metric, weighted)
        self._compile_config: dict[str, Any] | None = None

    # -- compile -----------------------------------------------------------------------
    def compile(self, optimizer: Any = "rmsprop", loss: Any = None, loss_weights: Any = None,
                metrics: Sequence[Any] | None = None, weighted_metrics: Sequence[Any] | None = None,
                run_eagerly: bool = False, steps_per_execution: int = 1, jit_compile: Any = "auto",
                auto_scale_loss: bool = True) -> None:
        """Choose the optimizer, the loss and the metrics (Keras's names and defaults).

        ``loss_weights`` (a float, or a one-element list/dict for this single-output model)
        scales the loss. ``run_eagerly``, ``jit_compile`` and ``auto_scale_loss`` are
        accepted for compatibility and change nothing; ``steps_per_execution`` must be 1.
        """
        from . import losses as losses_module
        from . import metrics as metrics_module
        from . import optimizers as optimizers_module

        if steps_per_execution != 1:
            raise ConfigError(f"steps_per_execution must be 1 in unrolled (as with Keras's "
                              f"PyTorch backend). Received: steps_per_execution={steps_per_execution}")
        for arg, value in (("metrics", metrics), ("weighted_metrics", weighted_metrics)):
            if value is not None and not isinstance(value, (list, tuple)) and not (
                    self.n_outputs > 1 and isinstance(value, dict)):
                raise ConfigError(f"Expected `{arg}` argument to be a list or tuple. Received instead: "
                                  f"{arg}={value!r} of type {type(value).__name__}")
        self.optimizer = optimizers_module.get(optimizer)
        self.loss = loss
        if self.n_outputs > 1:
            self._compile_outputs(loss, loss_weights, metrics, weighted_metrics)
            self._loss_fn = next((o["loss"] for o in self._outputs if o["loss"] is not None), None)
            self._loss_weight = None
            metrics = weighted_metrics = None
        else:
            self._loss_fn = losses_module.get(loss) if loss is not None else None
            self._loss_weight = self._parse_loss_weights(loss_weights)
        self._metric_args = (list(metrics or []), list(weighted_metrics or []))
        self._compiled_metrics = None
        self._loss_tracker = metrics_module.Mean(name="loss")
        with_loss = [out for out in self._outputs if out["loss"] is not None]
        for out in with_loss if len(with_loss) > 1 else []:   # Keras logs <name>_loss only then
            out["tracker"] = metrics_module.Mean(name=f"{out['name']}_loss")
        self.compiled = True
        self._compile_config = dict(optimizer=optimizer, loss=loss, loss_weights=loss_weights,
                                    metrics=metrics, weighted_metrics=weighted_metrics,
                                    run_eagerly=run_eagerly, steps_per_execution=steps_per_execution,
                                    jit_compile=False if jit_compile == "auto" else jit_compile)

    def _per_output(self, value: Any, what: str, single_ok: bool) -> list[Any]:
        """``value`` as one entry per output: a list in output order, a dict by output
        name (missing names: None), or (``single_ok``) one value for every output."""
        names = self.output_names
        if isinstance(value, dict):
            unknown = sorted(set(value) - set(names))
            if unknown:
                raise ConfigError(f"`{what}` has keys {unknown} that are not outputs of the model; "
                                  f"the outputs are {names}.")
            return [value.get(n) for n in names]
        if isinstance(value, (list, tuple)):
            if len(value) != len(names):
                raise ConfigError(f"`{what}` must have one entry per output ({len(names)}: {names}), "
                                  f"got {len(value)}: {value!r}.")
            return list(value)
        if value is None or single_ok:
            return [value] * len(names)
        raise ConfigError(f"`{what}` must be a list or a dict for a model with outputs {names}, "
                          f"got {value!r}.")

    def _compile_outputs(self, loss: Any, loss_weights: Any, metrics: Any, weighted: Any) -> None:
        from . import losses as losses_module

        losses = self._per_output(loss, "loss", single_ok=True)
        weights = self._per_output(loss_weights, "loss_weights", single_ok=False)
        per_metrics = []
        for arg, value in (("metrics", metrics), ("weighted_metrics", weighted)):
            if isinstance(value, (list, tuple)) and value and not all(
                    v is None or isinstance(v, (list, tuple)) for v in value):
                raise ConfigError(
                    f"Invalid `{arg}` for a model with outputs {self.output_names}: give one list "
                    f"per output (e.g. {arg}=[['mae'], ['mae']]) or a dict keyed by output name; "
                    f"got {value!r}.")
            items = self._per_output(value, arg, single_ok=False)
            per_metrics.append([[] if v is None else list(v) if isinstance(v, (list, tuple)) else [v]
                                for v in items])
        self._outputs = []
        for k, name in enumerate(self.output_names):
            w = weights[k]
            if w is not None and (isinstance(w, bool) or not isinstance(w, (int, float, np.number))):
                raise ConfigError(f"Expected `loss_weights` entries to be floats, got {w!r}.")
            self._outputs.append({
                "name": name, "loss": None if losses[k] is None else losses_module.get(losses[k]),
                "weight": None if w is None else float(w),
                "metric_args": (per_metrics[0][k], per_metrics[1][k]), "metrics": None,
                "tracker": None})

    @staticmethod
    def _parse_loss_weights(loss_weights: Any) -> float | None:
        if loss_weights is None:
            return None
        value = loss_weights
        if isinstance(value, dict):
            value = list(value.values())
        if isinstance(value, (list, tuple)):
            if len(value) != 1:
                raise ConfigError(f"`loss_weights` must match the number of losses, got 1 loss "
                                  f"and {len(value)} weights.")
            value = value[0]
        if isinstance(value, bool) or not isinstance(value, (int, float, np.number)):
            raise ConfigError(f"Expected `loss_weights` to be a float, received {loss_weights!r}.")
        return float(value)

    def get_compile_config(self) -> dict[str, Any] | None:
        """The ``compile()`` arguments in Keras's serialized form (what ``.keras`` files store)."""
        from . import losses as losses_module
        from . import metrics as metrics_module
        from . import optimizers as optimizers_module

        if self._compile_config is None:
            return None
        cfg = dict(self._compile_config)
        cfg["optimizer"] = optimizers_module.serialize(self.optimizer)
        if cfg["loss"] is not None and not isinstance(cfg["loss"], str):
            cfg["loss"] = losses_module.serialize(self._loss_fn)
        for key in ("metrics", "weighted_metrics"):
            if cfg[key] is not None:
                cfg[key] = [m if isinstance(m, str) else metrics_module.serialize(m) for m in cfg[key]]
        return cfg

    def compile_from_config(self, config: dict[str, Any]) -> None:
        """Inverse of :meth:`get_compile_config` (keys ``compile`` does not know are ignored)."""
        known = ("optimizer", "loss", "loss_weights", "metrics", "weighted_metrics", "run_eagerly",
                 "steps_per_execution", "jit_compile", "auto_scale_loss")
        self.compile(**{k: v for k, v in config.items() if k in known})

    def _assert_compiled(self, method: str) -> None:
        if not self.compiled:
            raise ConfigError(f"You must call `compile()` before `{method}()`, e.g. "
                              "model.compile(optimizer='adam', loss='mse').")
        if self._loss_fn is None and method in ("fit", "train_on_batch", "evaluate", "test_on_batch"):
            raise ConfigError("No loss to compute. Provide a `loss` argument in `compile()`.")

    # -- metrics -----------------------------------------------------------------------
    def _build_metrics(self, y: np.ndarray, y_pred: np.ndarray) -> None:
        self._compiled_metrics = self._metric_list(self._metric_args, self._loss_fn, y, y_pred, "")

    @staticmethod
    def _metric_list(args: tuple[list[Any], list[Any]], loss_fn: Any, y: np.ndarray,
                     y_pred: np.ndarray, prefix: str) -> list[tuple[str, Any, bool]]:
        from . import metrics as metrics_module

        built: list[tuple[str, Any, bool]] = []
        counts: dict[str, int] = {}
        for weighted, specs in ((False, args[0]), (True, args[1])):
            for spec in specs:
                metric = metrics_module.get(spec, loss=loss_fn, y_shape=tuple(y_pred.shape),
                             y_true_shape=tuple(y.shape))
                name = prefix + (spec if isinstance(spec, str) else metric.name)
                if name not in counts:
                    counts[name] = 1
                elif not weighted:
                    counts[name] += 1
                    name = f"{name}_{counts[name] - 1}"
                else:
                    name = f"weighted_{name}"
                    counts[name] = counts.get(name, 0) + 1
                    if counts[name] > 1:
                        name = f"{name}_{counts[name] - 1}"
                built.append((name, metric, weighted))
        return built

    def _output_trackers(self) -> list[Any]:
        return [o["tracker"] for o in self._outputs if o["tracker"] is not None]

    @property
    def metrics(self) -> list[Any]:
        """The loss tracker, then the compiled metrics (once built by a first batch)."""
        if not self.compiled:
            return []
        return ([self._loss_tracker] + self._output_trackers()
                + [m for _, m, _ in self._compiled_metrics or []])

    @property
    def metrics_names(self) -> list[str]:
        if not self.compiled:
            return []
        return (["loss"] + [t.name for t in self._output_trackers()]
                + [name for name, _, _ in self._compiled_metrics or []])

    def reset_metrics(self) -> None:
        if not self.compiled:
            return
        self._loss_tracker.reset_state()
        if self._outputs:
            for tracker in self._output_trackers():
                tracker.reset_state()
        for _, metric, _ in self._compiled_metrics or ():
            metric.reset_state()

    def get_metrics_result(self) -> dict[str, float]:
        logs = {"loss": float(self._loss_tracker.result())}
        if self._outputs:
            for tracker in self._output_trackers():
                logs[tracker.name] = float(tracker.result())
        for name, metric, _ in self._compiled_metrics or ():
            logs[name] = float(metric.result())
        return logs

    def _flatten_in_order(self, logs: dict[str, Any]) -> Any:
        """Keras's order: the losses and (one output) the metrics in compile order, then
        the other keys sorted -- with several outputs the per-output metric names carry
        an output prefix that Keras does not match, so they come sorted."""
        if len(logs) == 1:                     # the loss alone
            return next(iter(logs.values()))
        order = self.metrics_names if self.n_outputs == 1 else ["loss"] + [t.name for t in self._output_trackers()]
        names = [n for n in order if n in logs]
        values = [logs[n] for n in names] + [logs[k] for k in sorted(logs) if k not in names]
        return values[0] if len(values) == 1 else values
