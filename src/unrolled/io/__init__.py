"""File formats, and nothing else: this package never names a model class. Building
models from files (``unrolled.load_model``, ``model.save``) is
:mod:`unrolled.models.saving`.

==================================  ====================================================
:mod:`.keras_file`                  the ``.keras`` zip container (config.json,
                                    metadata.json, model.weights.h5, unrolled.json)
:mod:`.h5_weights`                  Keras 3's HDF5 weight tree and Keras 2's ``.h5``
                                    weight layout; safe HDF5 reading
:mod:`.legacy_h5`                   legacy HDF5 full models (``model_config`` ...)
:mod:`.legacy_config`               Keras 2 configs in Keras 3's schema, by version
:mod:`.keras_builtins`              the names of Keras's built-in layers (static)
``read_extra("m.keras")``           the ``extra`` dict stored beside a model, or None
``to_torch_state_dict(lstm)``       one layer under ``torch.nn`` names and layouts (and back)
:mod:`.torch_import`                whole ``torch.nn`` LSTM/GRU/RNN modules <-> models
                                    (``unrolled.from_torch`` / ``unrolled.to_torch``)
:mod:`.safetensors_file`            ``.safetensors`` through the NumPy API (no torch)
``export_onnx(model, "m.onnx")``    an ONNX graph (:mod:`.onnx_layers` for non-recurrent layers)
:mod:`.onnx_import`                 ONNX graphs of LSTM/GRU/RNN operators -> models
                                    (:mod:`.onnx_recurrent`, :mod:`.onnx_values`)
==================================  ====================================================

All writers are atomic: a failure leaves the previous file untouched.
"""
from .keras_file import read_extra
from .onnx_export import export_onnx
from .torch_weights import from_torch_state_dict, load_torch_file, to_torch_state_dict

__all__ = ["read_extra",
           "to_torch_state_dict", "from_torch_state_dict", "load_torch_file", "export_onnx"]
