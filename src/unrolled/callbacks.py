"""Callbacks for ``fit``, Keras 3's names and behaviour: ``unrolled.callbacks.EarlyStopping``
works like ``keras.callbacks.EarlyStopping``. Implemented in
:mod:`unrolled.training.callbacks` (hooks and their order) and
:mod:`unrolled.training.progress` (the progress bar)."""
from .training.callbacks import (Callback, CallbackList, CSVLogger, EarlyStopping, History,
                                 LambdaCallback, LearningRateScheduler, ModelCheckpoint,
                                 MonitorCallback, ReduceLROnPlateau, TerminateOnNaN)
from .training.progress import ProgbarLogger

__all__ = ["Callback", "CallbackList", "History", "EarlyStopping", "ModelCheckpoint",
           "ReduceLROnPlateau", "TerminateOnNaN", "CSVLogger", "LambdaCallback",
           "LearningRateScheduler", "ProgbarLogger", "MonitorCallback"]
