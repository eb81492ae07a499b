"""Reading and writing models: Keras 3's ``.keras`` / ``.weights.h5`` (unrolled's native
format), PyTorch ``nn.LSTM`` state dicts, and ONNX export.

==================================  ====================================================
``save_model(model, "m.keras")``    the zip Keras 3 writes; ``keras.saving.load_model``
                                    reads it (``extra=`` stores your own JSON beside it)
``load_model("m.keras")``           files from Keras 3 or unrolled; never runs code
``save_weights / load_weights``     ``*.weights.h5`` (Keras 3), also legacy Keras 2 ``.h5``
``read_extra("m.keras")``           the ``extra`` dict, or None
``to_torch_state_dict(lstm)``       ``torch.nn.LSTM`` names and layouts (and back)
``export_onnx(model, "m.onnx")``    an ONNX graph with the ``LSTM`` operator (``[onnx]`` extra)
==================================  ====================================================

All writers are atomic: a failure leaves the previous file untouched.
"""
from .keras_file import load_model, load_weights, read_extra, save_model, save_weights
from .onnx_export import export_onnx
from .torch_weights import from_torch_state_dict, load_torch_file, to_torch_state_dict

__all__ = ["save_model", "load_model", "save_weights", "load_weights", "read_extra",
           "to_torch_state_dict", "from_torch_state_dict", "load_torch_file", "export_onnx"]
