"""Write small Keras-2-style legacy ``.h5`` model files by hand, for the loader tests.

TensorFlow cannot be installed here, so these files are written with h5py following
Keras 2's own writer byte for byte in structure (``keras/saving/hdf5_format.py`` of
keras-team/keras 2.x, ``save_model_to_hdf5`` / ``save_weights_to_hdf5_group`` /
``save_optimizer_weights_to_hdf5_group``, and ``saving_utils.model_metadata``):

* root attributes ``keras_version`` and ``backend`` (plain ``str`` attributes), and
  ``model_config`` / ``training_config`` (JSON, utf-8 encoded ``bytes``);
* group ``model_weights`` with attributes ``layer_names`` (an array of ``bytes``: every
  layer of ``model.layers``, in order), ``backend`` and ``keras_version`` (``bytes``);
* one group per layer, created in *sorted* name order, with attribute ``weight_names``
  (``bytes`` array; ``np.asarray([])`` -- an empty float64 array -- for layers without
  weights) and one dataset per weight, created under the weight's own name, so
  ``lstm/lstm_cell/kernel:0`` becomes nested groups ``model_weights/lstm/lstm/lstm_cell/kernel:0``;
* group ``optimizer_weights`` with ``weight_names`` and a dataset per optimizer weight
  (tf.keras 2: ``Adam/iter:0``, then every ``.../m:0``, then every ``.../v:0``).

Weight names differ by version: standalone Keras 2.2.4 names them ``lstm_1/kernel:0``
(no cell), tf.keras 2.x ``lstm/lstm_cell/kernel:0``. Configs follow each version's
``get_config`` (2.2.4: ``batch_input_shape`` on the first layer, no InputLayer,
``VarianceScaling`` initializers, ``implementation``; 2.1.2: GRU without ``reset_after``;
tf.keras 2.9: an InputLayer, ``time_major``, ``Functional`` with list-style
``inbound_nodes``).

Run ``python tests/data/make_legacy_h5.py`` to rewrite ``tests/data/legacy/*.h5``; the
weights are random (seeded, non-zero) and the files are deterministic in content.
"""
from __future__ import annotations

import json
import os

import h5py
import numpy as np

HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "legacy")
T, F = 5, 3

GLOROT_224 = {"class_name": "VarianceScaling",
              "config": {"scale": 1.0, "mode": "fan_avg", "distribution": "uniform", "seed": None}}
ORTHO = {"class_name": "Orthogonal", "config": {"gain": 1.0, "seed": None}}
ZEROS = {"class_name": "Zeros", "config": {}}
GLOROT_TF = {"class_name": "GlorotUniform", "config": {"seed": None}}
NO_REG = {"kernel_regularizer": None, "bias_regularizer": None, "activity_regularizer": None,
          "kernel_constraint": None, "bias_constraint": None}
NO_RNN_REG = {**NO_REG, "recurrent_regularizer": None, "recurrent_constraint": None}


def _rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(seed)


def _w(rng: np.random.Generator, *shape: int) -> np.ndarray:
    """Uniform in ±[0.1, 0.6]: never zero, so a swapped or missing weight shows."""
    mag = rng.uniform(0.1, 0.6, size=shape)
    return (mag * rng.choice([-1.0, 1.0], size=shape)).astype("float32")


def _names(group: h5py.Group, key: str, names: list[str]) -> None:
    group.attrs[key] = np.asarray([n.encode("utf8") for n in names]) if names else np.asarray([])


def write(path: str, keras_version: str, model_config: dict, layers: list[tuple[str, list]],
          training_config: dict | None = None, optimizer: list | None = None) -> None:
    """``layers``: ``(layer name, [(weight name, array), ...])`` in ``model.layers`` order."""
    with h5py.File(path, "w") as f:
        f.attrs["keras_version"] = keras_version
        f.attrs["backend"] = "tensorflow"
        f.attrs["model_config"] = json.dumps(model_config).encode("utf8")
        if training_config is not None:
            f.attrs["training_config"] = json.dumps(training_config).encode("utf8")
        root = f.create_group("model_weights")
        _names(root, "layer_names", [name for name, _ in layers])
        root.attrs["backend"] = b"tensorflow"
        root.attrs["keras_version"] = keras_version.encode("utf8")
        for name, weights in sorted(layers, key=lambda item: item[0]):
            group = root.create_group(name)
            _names(group, "weight_names", [n for n, _ in weights])
            for wname, value in weights:
                group.create_dataset(wname, value.shape, dtype=value.dtype)[...] = value
        if optimizer:
            group = f.create_group("optimizer_weights")
            _names(group, "weight_names", [n for n, _ in optimizer])
            for wname, value in optimizer:
                group.create_dataset(wname, value.shape, dtype=value.dtype)[...] = value


def _adam_tf2(layers: list[tuple[str, list]], rng: np.random.Generator) -> list:
    """tf.keras 2 Adam's ``weights``: iter, then m of every variable, then v."""
    variables = [(n, v) for _, ws in layers for n, v in ws]
    out = [("Adam/iter:0", np.array(7, dtype="int64"))]
    for slot in ("m", "v"):
        out += [(f"Adam/{n[:-2]}/{slot}:0", np.abs(_w(rng, *v.shape)) if slot == "v"
                 else _w(rng, *v.shape)) for n, v in variables]
    return out


# -- standalone Keras 2.2.4: LSTM with its then-default hard_sigmoid -> Dense ------------
def keras224_lstm_hard_sigmoid() -> None:
    rng, H = _rng(224), 4
    lstm = {"name": "lstm_1", "trainable": True, "batch_input_shape": [None, T, F],
            "dtype": "float32", "return_sequences": False, "return_state": False,
            "go_backwards": False, "stateful": False, "unroll": False, "units": H,
            "activation": "tanh", "recurrent_activation": "hard_sigmoid", "use_bias": True,
            "kernel_initializer": GLOROT_224, "recurrent_initializer": ORTHO,
            "bias_initializer": ZEROS, "unit_forget_bias": True, **NO_RNN_REG,
            "dropout": 0.0, "recurrent_dropout": 0.0, "implementation": 1}
    dense = {"name": "dense_1", "trainable": True, "units": 2, "activation": "linear",
             "use_bias": True, "kernel_initializer": GLOROT_224, "bias_initializer": ZEROS,
             **NO_REG}
    config = {"class_name": "Sequential", "config": {"name": "sequential_1", "layers": [
        {"class_name": "LSTM", "config": lstm}, {"class_name": "Dense", "config": dense}]}}
    layers = [("lstm_1", [("lstm_1/kernel:0", _w(rng, F, 4 * H)),
                          ("lstm_1/recurrent_kernel:0", _w(rng, H, 4 * H)),
                          ("lstm_1/bias:0", _w(rng, 4 * H))]),
              ("dense_1", [("dense_1/kernel:0", _w(rng, H, 2)), ("dense_1/bias:0", _w(rng, 2))])]
    training = {"optimizer_config": {"class_name": "Adam", "config": {
        "lr": 0.0010000000474974513, "beta_1": 0.8999999761581421, "beta_2": 0.9990000128746033,
        "decay": 0.0, "epsilon": 1e-07, "amsgrad": False}},
        "loss": "mse", "metrics": ["mae"], "sample_weight_mode": None, "loss_weights": None}
    optimizer = [("Adam/iterations:0", np.array(3, dtype="int64"))] + [
        (f"training/Adam/Variable_{k}:0", _w(rng, *v.shape))
        for k, (_, v) in enumerate(w for _, ws in layers for w in ws)]
    write(os.path.join(HERE, "keras224_lstm_hard_sigmoid.h5"), "2.2.4", config, layers,
          training, optimizer)


# -- standalone Keras 2.1.2: GRU before reset_after existed -> SimpleRNN -> Dense ---------
def keras212_gru_simple_rnn() -> None:
    rng, H, S = _rng(212), 4, 3
    common = {"trainable": True, "dtype": "float32", "return_sequences": True,
              "return_state": False, "go_backwards": False, "stateful": False, "unroll": False,
              "activation": "tanh", "use_bias": True, "kernel_initializer": GLOROT_224,
              "recurrent_initializer": ORTHO, "bias_initializer": ZEROS, **NO_RNN_REG,
              "dropout": 0.0, "recurrent_dropout": 0.0}
    gru = {"name": "gru_1", "batch_input_shape": [None, T, F], **common, "units": H,
           "recurrent_activation": "sigmoid", "implementation": 1}
    rnn = {"name": "simple_rnn_1", **common, "return_sequences": False, "units": S}
    dense = {"name": "dense_1", "trainable": True, "units": 1, "activation": "linear",
             "use_bias": True, "kernel_initializer": GLOROT_224, "bias_initializer": ZEROS, **NO_REG}
    config = {"class_name": "Sequential", "config": [
        {"class_name": "GRU", "config": gru}, {"class_name": "SimpleRNN", "config": rnn},
        {"class_name": "Dense", "config": dense}]}          # Keras <= 2.1: a bare list
    layers = [("gru_1", [("gru_1/kernel:0", _w(rng, F, 3 * H)),
                         ("gru_1/recurrent_kernel:0", _w(rng, H, 3 * H)),
                         ("gru_1/bias:0", _w(rng, 3 * H))]),
              ("simple_rnn_1", [("simple_rnn_1/kernel:0", _w(rng, H, S)),
                                ("simple_rnn_1/recurrent_kernel:0", _w(rng, S, S)),
                                ("simple_rnn_1/bias:0", _w(rng, S))]),
              ("dense_1", [("dense_1/kernel:0", _w(rng, S, 1)), ("dense_1/bias:0", _w(rng, 1))])]
    write(os.path.join(HERE, "keras212_gru_simple_rnn.h5"), "2.1.2", config, layers)


# -- tf.keras 2.9: InputLayer, LSTM, Dropout, GRU(reset_after), Dense ---------------------
def _tf_rnn(name: str, units: int, return_sequences: bool, **extra: object) -> dict:
    return {"name": name, "trainable": True, "dtype": "float32",
            "return_sequences": return_sequences, "return_state": False, "go_backwards": False,
            "stateful": False, "unroll": False, "time_major": False, "units": units,
            "activation": "tanh", "recurrent_activation": "sigmoid", "use_bias": True,
            "kernel_initializer": GLOROT_TF, "recurrent_initializer": ORTHO,
            "bias_initializer": ZEROS, **NO_RNN_REG, "dropout": 0.0, "recurrent_dropout": 0.0,
            "implementation": 2, **extra}


def tfkeras29_sequential() -> None:
    rng, H, G = _rng(29), 4, 3
    config = {"class_name": "Sequential", "config": {"name": "sequential", "layers": [
        {"class_name": "InputLayer", "config": {"batch_input_shape": [None, T, F],
                                                "dtype": "float32", "sparse": False,
                                                "ragged": False, "name": "lstm_input"}},
        {"class_name": "LSTM", "config": {**_tf_rnn("lstm", H, True), "batch_input_shape":
                                          [None, T, F], "unit_forget_bias": True}},
        {"class_name": "Dropout", "config": {"name": "dropout", "trainable": True,
                                             "dtype": "float32", "rate": 0.25,
                                             "noise_shape": None, "seed": None}},
        {"class_name": "GRU", "config": _tf_rnn("gru", G, False, reset_after=True)},
        {"class_name": "Dense", "config": {"name": "dense", "trainable": True,
                                           "dtype": "float32", "units": 2,
                                           "activation": "linear", "use_bias": True,
                                           "kernel_initializer": GLOROT_TF,
                                           "bias_initializer": ZEROS, **NO_REG}}]}}
    layers = [("lstm", [("lstm/lstm_cell/kernel:0", _w(rng, F, 4 * H)),
                        ("lstm/lstm_cell/recurrent_kernel:0", _w(rng, H, 4 * H)),
                        ("lstm/lstm_cell/bias:0", _w(rng, 4 * H))]),
              ("dropout", []),
              ("gru", [("gru/gru_cell/kernel:0", _w(rng, H, 3 * G)),
                       ("gru/gru_cell/recurrent_kernel:0", _w(rng, G, 3 * G)),
                       ("gru/gru_cell/bias:0", _w(rng, 2, 3 * G))]),
              ("dense", [("dense/kernel:0", _w(rng, G, 2)), ("dense/bias:0", _w(rng, 2))])]
    training = {"loss": "mse", "metrics": [[{"class_name": "MeanMetricWrapper", "config": {
        "name": "mae", "dtype": "float32", "fn": "mean_absolute_error"}}]],
        "weighted_metrics": None, "loss_weights": None, "optimizer_config": {
            "class_name": "Adam", "config": {"name": "Adam", "learning_rate": 0.0010000000474974513,
                                             "decay": 0.0, "beta_1": 0.9, "beta_2": 0.999,
                                             "epsilon": 1e-07, "amsgrad": False}}}
    write(os.path.join(HERE, "tfkeras29_sequential.h5"), "2.9.0", config, layers, training,
          _adam_tf2(layers, rng))


# -- tf.keras 2.9 Functional: encoder LSTM states -> decoder LSTM initial_state -> Dense ---
def tfkeras29_encoder_decoder() -> None:
    rng, H, T2, F2 = _rng(2929), 4, 4, 2

    def input_layer(name: str, shape: list) -> dict:
        return {"class_name": "InputLayer", "config": {"batch_input_shape": [None, *shape],
                "dtype": "float32", "sparse": False, "ragged": False, "name": name},
                "name": name, "inbound_nodes": []}

    config = {"class_name": "Functional", "config": {"name": "model", "layers": [
        input_layer("input_1", [T, F]),
        input_layer("input_2", [T2, F2]),
        {"class_name": "LSTM", "config": {**_tf_rnn("lstm", H, False), "return_state": True,
                                          "unit_forget_bias": True},
         "name": "lstm", "inbound_nodes": [[["input_1", 0, 0, {}]]]},
        {"class_name": "LSTM", "config": {**_tf_rnn("lstm_1", H, True), "unit_forget_bias": True},
         "name": "lstm_1",
         # tf.keras 2 calls an RNN with initial_state on [inputs, *states]
         "inbound_nodes": [[["input_2", 0, 0, {}], ["lstm", 0, 1, {}], ["lstm", 0, 2, {}]]]},
        {"class_name": "Dense", "config": {"name": "dense", "trainable": True, "dtype": "float32",
                                           "units": 2, "activation": "linear", "use_bias": True,
                                           "kernel_initializer": GLOROT_TF,
                                           "bias_initializer": ZEROS, **NO_REG},
         "name": "dense", "inbound_nodes": [[["lstm_1", 0, 0, {}]]]}],
        "input_layers": [["input_1", 0, 0], ["input_2", 0, 0]],
        "output_layers": [["dense", 0, 0]]}}
    layers = [("input_1", []), ("input_2", []),
              ("lstm", [("lstm/lstm_cell/kernel:0", _w(rng, F, 4 * H)),
                        ("lstm/lstm_cell/recurrent_kernel:0", _w(rng, H, 4 * H)),
                        ("lstm/lstm_cell/bias:0", _w(rng, 4 * H))]),
              ("lstm_1", [("lstm_1/lstm_cell/kernel:0", _w(rng, F2, 4 * H)),
                          ("lstm_1/lstm_cell/recurrent_kernel:0", _w(rng, H, 4 * H)),
                          ("lstm_1/lstm_cell/bias:0", _w(rng, 4 * H))]),
              ("dense", [("dense/kernel:0", _w(rng, H, 2)), ("dense/bias:0", _w(rng, 2))])]
    write(os.path.join(HERE, "tfkeras29_encoder_decoder.h5"), "2.9.0", config, layers)


# -- tf.keras 2.9: Bidirectional(LSTM, time_major) -> TimeDistributed(Dense) ----------------
def tfkeras29_bidirectional() -> None:
    rng, H = _rng(2930), 3
    dense = {"name": "dense", "trainable": True, "dtype": "float32", "units": 2,
             "activation": "tanh", "use_bias": True, "kernel_initializer": GLOROT_TF,
             "bias_initializer": ZEROS, **NO_REG}
    config = {"class_name": "Sequential", "config": {"name": "sequential", "layers": [
        {"class_name": "InputLayer", "config": {"batch_input_shape": [None, T, F],
                                                "dtype": "float32", "sparse": False,
                                                "ragged": False, "name": "bidirectional_input"}},
        {"class_name": "Bidirectional", "config": {
            "name": "bidirectional", "trainable": True, "dtype": "float32",
            "batch_input_shape": [None, T, F],
            "layer": {"class_name": "LSTM", "config": {**_tf_rnn("lstm", H, True),
                                                       "unit_forget_bias": True}},
            "merge_mode": "concat"}},
        {"class_name": "TimeDistributed", "config": {
            "name": "time_distributed", "trainable": True, "dtype": "float32",
            "layer": {"class_name": "Dense", "config": dense}}}]}}
    fw = [("bidirectional/forward_lstm/lstm_cell/kernel:0", _w(rng, F, 4 * H)),
          ("bidirectional/forward_lstm/lstm_cell/recurrent_kernel:0", _w(rng, H, 4 * H)),
          ("bidirectional/forward_lstm/lstm_cell/bias:0", _w(rng, 4 * H))]
    bw = [(n.replace("forward", "backward"), _w(rng, *v.shape)) for n, v in fw]
    layers = [("bidirectional", fw + bw),
              ("time_distributed", [("time_distributed/kernel:0", _w(rng, 2 * H, 2)),
                                    ("time_distributed/bias:0", _w(rng, 2))])]
    write(os.path.join(HERE, "tfkeras29_bidirectional.h5"), "2.9.0", config, layers)


# -- standalone Keras 2.2.4 "Model": two inputs -> LSTM, GRU -> Concatenate -> Dense -----
def keras224_two_inputs() -> None:
    rng, H, G = _rng(2240), 3, 2

    def rnn(kind: str, name: str, units: int) -> dict:
        cfg = {"name": name, "trainable": True, "return_sequences": False, "return_state": False,
               "go_backwards": False, "stateful": False, "unroll": False, "units": units,
               "activation": "tanh", "recurrent_activation": "hard_sigmoid", "use_bias": True,
               "kernel_initializer": GLOROT_224, "recurrent_initializer": ORTHO,
               "bias_initializer": ZEROS, **NO_RNN_REG, "dropout": 0.0,
               "recurrent_dropout": 0.0, "implementation": 1}
        if kind == "LSTM":
            cfg["unit_forget_bias"] = True
        else:
            cfg["reset_after"] = False
        return cfg

    def node(*refs: str) -> list:
        return [[[ref, 0, 0, {}] for ref in refs]]

    config = {"class_name": "Model", "config": {"name": "model_1", "layers": [
        {"name": "a", "class_name": "InputLayer", "inbound_nodes": [],
         "config": {"batch_input_shape": [None, T, F], "dtype": "float32", "sparse": False,
                    "name": "a"}},
        {"name": "b", "class_name": "InputLayer", "inbound_nodes": [],
         "config": {"batch_input_shape": [None, 4, 2], "dtype": "float32", "sparse": False,
                    "name": "b"}},
        {"name": "lstm_1", "class_name": "LSTM", "config": rnn("LSTM", "lstm_1", H),
         "inbound_nodes": node("a")},
        {"name": "gru_1", "class_name": "GRU", "config": rnn("GRU", "gru_1", G),
         "inbound_nodes": node("b")},
        {"name": "concatenate_1", "class_name": "Concatenate",
         "config": {"name": "concatenate_1", "trainable": True, "axis": -1},
         "inbound_nodes": node("lstm_1", "gru_1")},
        {"name": "dense_1", "class_name": "Dense", "inbound_nodes": node("concatenate_1"),
         "config": {"name": "dense_1", "trainable": True, "units": 1, "activation": "linear",
                    "use_bias": True, "kernel_initializer": GLOROT_224,
                    "bias_initializer": ZEROS, **NO_REG}}],
        "input_layers": [["a", 0, 0], ["b", 0, 0]], "output_layers": [["dense_1", 0, 0]]}}
    layers = [("a", []), ("b", []),
              ("lstm_1", [("lstm_1/kernel:0", _w(rng, F, 4 * H)),
                          ("lstm_1/recurrent_kernel:0", _w(rng, H, 4 * H)),
                          ("lstm_1/bias:0", _w(rng, 4 * H))]),
              ("gru_1", [("gru_1/kernel:0", _w(rng, 2, 3 * G)),
                         ("gru_1/recurrent_kernel:0", _w(rng, G, 3 * G)),
                         ("gru_1/bias:0", _w(rng, 3 * G))]),
              ("concatenate_1", []),
              ("dense_1", [("dense_1/kernel:0", _w(rng, H + G, 1)), ("dense_1/bias:0", _w(rng, 1))])]
    write(os.path.join(HERE, "keras224_two_inputs.h5"), "2.2.4", config, layers)


BUILDERS = [keras224_lstm_hard_sigmoid, keras224_two_inputs, keras212_gru_simple_rnn, tfkeras29_sequential,
            tfkeras29_encoder_decoder, tfkeras29_bidirectional]

if __name__ == "__main__":
    os.makedirs(HERE, exist_ok=True)
    for build in BUILDERS:
        build()
        print("wrote", build.__name__)
