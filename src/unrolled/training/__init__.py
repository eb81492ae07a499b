"""Training math that does not depend on layers: losses, metrics, optimizers, schedules.

Import the submodules directly (``unrolled.training.losses`` ...); this package module
only holds the two helpers they share for Keras-style name lookup and serialization.

=======================  ==========================================================
``loss_functions``       per-sample losses, each beside its backward
``loss_reduction``       Keras's sample weighting and reduction, with its gradient
``losses``               the Loss classes, ``get`` / ``serialize`` (public home)
``metrics``              stateful metrics
``schedules``            learning-rate schedules
``optimizer_base``       the Optimizer base: clipping, weight decay, EMA, state, config
``optimizers``           SGD, Adam, AdamW, RMSprop, Adagrad (public home)
``callback_base``        the Callback hooks and the logs they receive
``monitor_callbacks``    EarlyStopping, ReduceLROnPlateau, ModelCheckpoint
``callbacks``            CallbackList, History, CSVLogger, ... (public home of all)
``progress``             the progress bar (ProgbarLogger)
``batching``             ``(x, y, sample_weight)`` unpacking, class weights, batches
``compiling``            ``compile``: optimizer, loss, metrics and their log names
``trainer``              ``fit`` / ``evaluate`` / ``predict`` on top of the above
=======================  ==========================================================
"""
from __future__ import annotations

from typing import Any, Mapping

from ..errors import ConfigError


def keras_object_dict(module: str, class_name: str, config: dict) -> dict[str, Any]:
    """The ``{"module", "class_name", "config", "registered_name"}`` dict Keras 3 writes.

    ``registered_name`` is ``None`` for Keras built-ins, which is what lets
    ``keras.saving.deserialize_keras_object`` find the class from ``module``.
    """
    return {"module": module, "class_name": class_name, "config": config,
            "registered_name": None}


def lookup(identifier: str, table: Mapping[str, Any], kind: str) -> Any:
    """``table[identifier]``, or a ConfigError that lists every name ``table`` knows."""
    try:
        return table[identifier]
    except KeyError:
        known = ", ".join(sorted(table))
        raise ConfigError(
            f"Unknown {kind} {identifier!r}. Known {kind} names: {known}.") from None
