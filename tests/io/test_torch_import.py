"""``unrolled.from_torch`` / ``to_torch``: whole torch.nn LSTM/GRU/RNN modules, from a live
module, a state dict, a ``.pt`` and a ``.safetensors`` file, against torch on the same input."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import unrolled
from tests.peers import require
from tests.reference import nonzero_uniform
from unrolled.core import gates
from unrolled.errors import ConfigError

B, T, F, H = 2, 5, 3, 4
KINDS = [("LSTM", {}), ("GRU", {}), ("RNN", {"nonlinearity": "tanh"}), ("RNN", {"nonlinearity": "relu"})]
KIND_IDS = ["lstm", "gru", "rnn_tanh", "rnn_relu"]


def _module(torch, kind: str, kw: dict, layers: int = 1, batch_first: bool = True,
            bidirectional: bool = False, bias: bool = True, seed: int = 0):
    torch.manual_seed(seed)
    return getattr(torch.nn, kind)(F, H, num_layers=layers, batch_first=batch_first,
                                   bidirectional=bidirectional, bias=bias, **kw).eval()


def _x(batch: int = B, steps: int = T) -> np.ndarray:
    return np.random.default_rng(1).normal(size=(batch, steps, F)).astype("float32")


def _torch_run(torch, module, x: np.ndarray):
    """The module's (output, h_n) on batch-major ``x``, output batch-major too."""
    xt = torch.from_numpy(x if module.batch_first else x.transpose(1, 0, 2).copy())
    with torch.no_grad():
        out, state = module(xt)
    h = state[0] if isinstance(state, tuple) else state
    out = out.numpy()
    return (out if module.batch_first else out.transpose(1, 0, 2)), h.numpy()


def _source(torch, module, how: str, tmp_path):
    if how == "module":
        return module
    if how == "state_dict":
        return module.state_dict()
    path = tmp_path / "m.safetensors"
    from safetensors.torch import save_file

    save_file({k: v.contiguous() for k, v in module.state_dict().items()}, str(path))
    return path


@pytest.mark.parametrize("how", ["module", "state_dict", "safetensors"])
@pytest.mark.parametrize("bidirectional", [False, True], ids=["uni", "bi"])
@pytest.mark.parametrize("batch_first", [True, False], ids=["batch_first", "time_major"])
@pytest.mark.parametrize("layers", [1, 2, 3])
@pytest.mark.parametrize("kind,kw", KINDS, ids=KIND_IDS)
def test_from_torch_output_matches_torch(kind, kw, layers, batch_first, bidirectional, how, tmp_path):
    torch = require("torch")
    if how == "safetensors":
        require("safetensors")
    module = _module(torch, kind, kw, layers, batch_first, bidirectional)
    hints = {"batch_first": batch_first}
    if how != "module" and kind == "RNN":
        hints["nonlinearity"] = kw["nonlinearity"]      # a bare state dict cannot say
    model = unrolled.from_torch(_source(torch, module, how, tmp_path), **hints)
    x = _x()
    out, h_n = _torch_run(torch, module, x)
    ours = model.predict(x, verbose=0)
    assert ours.shape == (B, T, H * (1 + bidirectional)) and ours.dtype == np.float32
    np.testing.assert_allclose(ours, out, atol=1e-5)
    assert len(model.layers) == layers
    assert all((type(la).__name__ == "Bidirectional") == bidirectional for la in model.layers)
    assert model.torch_spec.batch_first == batch_first


@pytest.mark.parametrize("bidirectional", [False, True], ids=["uni", "bi"])
@pytest.mark.parametrize("kind,kw", KINDS, ids=KIND_IDS)
def test_last_step_is_the_last_layers_final_state(kind, kw, bidirectional):
    torch = require("torch")
    module = _module(torch, kind, kw, layers=2, bidirectional=bidirectional)
    model = unrolled.from_torch(module, return_sequences=False)
    for x in (_x(1, 1), _x()):
        _, h_n = _torch_run(torch, module, x)
        expected = np.concatenate([h_n[-2], h_n[-1]], -1) if bidirectional else h_n[-1]
        np.testing.assert_allclose(model.predict(x, verbose=0), expected, atol=1e-5)


def test_no_bias_and_prefixed_state_dict():
    torch = require("torch")
    module = _module(torch, "LSTM", {}, layers=2, bias=False)
    outer = torch.nn.Sequential()
    outer.add_module("rnn", module)
    model = unrolled.from_torch(outer.state_dict())     # keys "rnn.weight_ih_l0" ...
    assert not model.layers[0].use_bias
    np.testing.assert_allclose(model.predict(_x(), verbose=0), _torch_run(torch, module, _x())[0],
                               atol=1e-5)


def _random_model(kind: str, layers: int, activation: str = "tanh", seed: int = 3,
                  bidirectional: bool = False):
    from unrolled.layers import GRU, LSTM, Bidirectional, SimpleRNN

    make = {"LSTM": lambda rs: LSTM(H, return_sequences=rs),
            "GRU": lambda rs: GRU(H, return_sequences=rs),
            "RNN": lambda rs: SimpleRNN(H, activation=activation, return_sequences=rs)}[kind]
    wrap = Bidirectional if bidirectional else (lambda la: la)
    model = unrolled.Sequential([unrolled.Input((None, F))] + [wrap(make(True)) for _ in range(layers)])
    rng = np.random.default_rng(seed)
    model.set_weights([nonzero_uniform(rng, w.shape, dtype=w.dtype) for w in model.weights])
    return model


@pytest.mark.parametrize("bidirectional", [False, True], ids=["uni", "bi"])
@pytest.mark.parametrize("kind,kw", KINDS, ids=KIND_IDS)
def test_to_torch_loads_into_the_matching_module(kind, kw, bidirectional, tmp_path):
    torch = require("torch")
    require("safetensors")
    model = _random_model(kind, 2, kw.get("nonlinearity", "tanh"), bidirectional=bidirectional)
    spec = unrolled.io.torch_import.torch_spec(model)
    module = getattr(torch.nn, spec.module)(**spec.module_kwargs()).eval()
    sd = unrolled.to_torch(model, tmp_path / "w.safetensors")
    module.load_state_dict({k: torch.from_numpy(v) for k, v in sd.items()}, strict=True)
    x = _x()
    np.testing.assert_allclose(_torch_run(torch, module, x)[0], model.predict(x, verbose=0), atol=1e-5)
    # The file carries the module's arguments: a relu RNN comes back as relu with no hint.
    back = unrolled.from_torch(tmp_path / "w.safetensors")
    np.testing.assert_allclose(back.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-6)
    unrolled.to_torch(model, tmp_path / "w.pt")
    np.testing.assert_allclose(unrolled.from_torch(tmp_path / "w.pt", **kw).predict(x, verbose=0),
                               model.predict(x, verbose=0), atol=1e-6)


def test_round_trip_keeps_every_weight_exactly():
    torch = require("torch")
    module = _module(torch, "GRU", {}, layers=3, bidirectional=True)
    sd = unrolled.to_torch(unrolled.from_torch(module))
    for k, v in module.state_dict().items():
        np.testing.assert_array_equal(sd[k], v.numpy())   # GRU biases stay separate: exact


@pytest.mark.parametrize("kind", ["LSTM", "GRU", "SimpleRNN"])
@pytest.mark.parametrize("framework", ["torch", "onnx"])
def test_gate_tables_invert(kind, framework):
    rng = np.random.default_rng(0)
    G = {"LSTM": 4, "GRU": 3, "SimpleRNN": 1}[kind]
    for reset_after in ([True, False] if kind == "GRU" else [False]):
        if framework == "torch" and kind == "GRU" and not reset_after:
            continue
        bias = nonzero_uniform(rng, (2, G * H) if reset_after else (G * H,), dtype="float32")
        keras = gates.KerasWeights(nonzero_uniform(rng, (F, G * H), dtype="float32"),
                                   nonzero_uniform(rng, (H, G * H), dtype="float32"), bias)
        fw = gates.to_framework(kind, framework, *keras, reset_after=reset_after)
        assert fw.w_in.shape == (G * H, F) and fw.w_rec.shape == (G * H, H)
        back = gates.from_framework(kind, framework, fw, reset_after=reset_after)
        for a, b in zip(back, keras):
            np.testing.assert_array_equal(a, b)
    if kind == "LSTM":   # the documented orders, block by block
        kernel = np.arange(4)[None].repeat(F, 0).astype("float32")    # block j holds j
        fw = gates.to_framework(kind, framework, kernel, np.zeros((1, 4), "float32"), None)
        order = {"torch": [0, 1, 2, 3], "onnx": [0, 3, 1, 2]}[framework]   # i f c o / i o f c
        assert fw.w_in[:, 0].tolist() == order


def test_refusals(tmp_path):
    torch = require("torch")
    with pytest.raises(ConfigError, match="proj_size=2"):
        unrolled.from_torch(torch.nn.LSTM(F, H, proj_size=2))
    with pytest.raises(ConfigError, match="weight_hr"):
        unrolled.from_torch(torch.nn.LSTM(F, H, proj_size=2).state_dict())
    with pytest.raises(ConfigError, match="not a GRU's"):
        unrolled.from_torch(torch.nn.LSTM(F, H).state_dict(), mode="GRU")
    head = torch.nn.Sequential(torch.nn.Linear(F, H))
    with pytest.raises(ConfigError, match="recurrent submodule"):
        unrolled.from_torch(head)
    both = {**{f"a.{k}": v for k, v in torch.nn.GRU(F, H).state_dict().items()},
            **{f"b.{k}": v for k, v in torch.nn.GRU(F, H).state_dict().items()}}
    with pytest.raises(ConfigError, match="prefix='a.'"):
        unrolled.from_torch(both)
    assert unrolled.from_torch(both, prefix="b.").layers[0].units == H
    with pytest.raises(ConfigError, match="not a torch.nn LSTM/GRU/RNN's"):
        unrolled.from_torch({**torch.nn.GRU(F, H).state_dict(), "fc.weight": torch.zeros(1, H)})

    from unrolled.layers import GRU, LSTM, Dense

    old_gru = unrolled.Sequential([unrolled.Input((T, F)), GRU(H, reset_after=False)])
    with pytest.raises(ConfigError, match="reset_after=False cannot be converted to PyTorch exactly"):
        unrolled.to_torch(old_gru)
    hard = unrolled.Sequential([unrolled.Input((T, F)), LSTM(H, recurrent_activation="hard_sigmoid")])
    with pytest.raises(ConfigError, match="sigmoid gates and tanh"):
        unrolled.to_torch(hard)
    headed = unrolled.Sequential([unrolled.Input((T, F)), LSTM(H), Dense(1)])
    with pytest.raises(ConfigError, match="Dense 'dense"):
        unrolled.to_torch(headed)
    mixed = unrolled.Sequential([unrolled.Input((T, F)), LSTM(H, return_sequences=True), LSTM(H + 1)])
    with pytest.raises(ConfigError, match="differs"):
        unrolled.to_torch(mixed)
    from unrolled.layers import Bidirectional

    summed = unrolled.Sequential([unrolled.Input((T, F)), Bidirectional(LSTM(H), merge_mode="sum")])
    with pytest.raises(ConfigError, match="merge_mode='sum'"):
        unrolled.to_torch(summed)
    backwards = unrolled.Sequential([unrolled.Input((T, F)), LSTM(H, go_backwards=True)])
    with pytest.raises(ConfigError, match="go_backwards=True"):
        unrolled.to_torch(backwards)
    short = unrolled.Sequential([unrolled.Input((T, F)), LSTM(H), ])
    with pytest.raises(ConfigError, match=r"\.safetensors, \.pt or \.pth"):
        unrolled.to_torch(short, tmp_path / "w.h5")


def test_safetensors_are_read_without_torch(tmp_path):
    """A subprocess in which ``import torch`` fails reads the file and gets torch's numbers."""
    torch = require("torch")
    require("safetensors")
    module = _module(torch, "LSTM", {}, layers=2)
    unrolled.to_torch(unrolled.from_torch(module), tmp_path / "m.safetensors")
    x = _x()
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "y.npy", _torch_run(torch, module, x)[0])
    code = textwrap.dedent(f"""
        import sys
        class Block:
            def find_spec(self, name, path=None, target=None):
                if name == "torch" or name.startswith("torch."):
                    raise ImportError("torch is blocked in this test")
        sys.meta_path.insert(0, Block())
        import numpy as np, unrolled
        model = unrolled.from_torch({str(tmp_path / "m.safetensors")!r})
        y = model.predict(np.load({str(tmp_path / "x.npy")!r}), verbose=0)
        np.testing.assert_allclose(y, np.load({str(tmp_path / "y.npy")!r}), atol=1e-5)
        assert "torch" not in sys.modules
        print("ok")
    """)
    # UNROLLED_KERNEL=numpy: what is tested is reading the file, not which kernel runs it;
    # the numba kernels would only add seconds of loading to this short-lived process.
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p),
           "UNROLLED_KERNEL": "numpy"}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "ok"


@pytest.mark.parametrize("with_initial", [True, False], ids=["h0", "zeros"])
@pytest.mark.parametrize("bidirectional", [False, True], ids=["uni", "bi"])
@pytest.mark.parametrize("layers", [1, 2, 3])
@pytest.mark.parametrize("kind,kw", KINDS, ids=KIND_IDS)
def test_initial_and_final_states_match_torch(kind, kw, layers, bidirectional, with_initial):
    """``initial_state=True`` / ``return_state=True``: a graph model taking h0 (c0) per layer
    and direction, returning every final state; h_n (c_n) stacked back as torch's."""
    torch = require("torch")
    from unrolled.io.torch_import import torch_final_states, torch_initial_states

    batch_first = layers != 2                       # both orientations across the matrix
    module = _module(torch, kind, kw, layers, batch_first, bidirectional)
    model = unrolled.from_torch(module, initial_state=with_initial, return_state=True)
    x, rows = _x(), layers * (2 if bidirectional else 1)
    rng = np.random.default_rng(4)
    h0, c0 = (rng.normal(size=(rows, B, H)).astype("float32") for _ in range(2))
    lstm = kind == "LSTM"
    inputs = [x] + torch_initial_states(model.torch_spec, h0, c0 if lstm else None) if with_initial else x
    ours = torch_final_states(model.torch_spec, model.predict(inputs, verbose=0))
    xt = torch.from_numpy(x if batch_first else x.transpose(1, 0, 2).copy())
    with torch.no_grad():
        if with_initial:
            state = (torch.from_numpy(h0), torch.from_numpy(c0)) if lstm else torch.from_numpy(h0)
            y, final = module(xt, state)
        else:
            y, final = module(xt)
    y = y.numpy() if batch_first else y.numpy().transpose(1, 0, 2)
    theirs = (y, *(f.numpy() for f in final)) if lstm else (y, final.numpy())
    assert len(ours) == len(theirs)
    for a, b in zip(ours, theirs):
        assert a.shape == b.shape
        np.testing.assert_allclose(a, b, atol=1e-5)


def test_initial_state_shapes_are_checked():
    torch = require("torch")
    model = unrolled.from_torch(_module(torch, "LSTM", {}, layers=2), initial_state=True)
    with pytest.raises(ConfigError, match=r"expected \(num_layers·directions, batch, hidden\) = \(2, batch, 4\)"):
        unrolled.io.torch_import.torch_initial_states(model.torch_spec, np.zeros((1, B, H)), np.zeros((1, B, H)))
    with pytest.raises(ConfigError, match="needs h0 and c0"):
        unrolled.io.torch_import.torch_initial_states(model.torch_spec, np.zeros((2, B, H)))
