"""ONNX graphs -> unrolled models, compared with ONNX Runtime on the same input.

Two sources of graphs: ``torch.onnx.export`` of torch.nn LSTM/GRU/RNN modules (what
people have on disk), and graphs written with ``onnx.helper`` for each operator
attribute. Outputs are rearranged with ``model_output`` (the imported model is always
batch first) and must agree within 1e-5.
"""
from __future__ import annotations

import io
import warnings

import numpy as np
import pytest

from tests.peers import require
from tests.reference import nonzero_uniform
from unrolled.errors import ModelFileError
from unrolled.io.onnx_import import graph_input, model_inputs, model_output
from unrolled.models.onnx_models import load_onnx

B, T, F, H = 2, 5, 3, 4


def _ort(path, feeds):
    ort = require("onnxruntime")
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, feeds)


def _x(batch: int = B, steps: int = T, features: int = F) -> np.ndarray:
    return np.random.default_rng(2).normal(size=(batch, steps, features)).astype("float32")


def _check(path, x: np.ndarray | None = None, atol: float = 1e-5):
    """Import ``path``, run it and ONNX Runtime on the same data; return the model."""
    model = load_onnx(path)
    x = _x() if x is None else x
    sig = model.onnx_signature
    theirs = _ort(path, {sig["input"]: graph_input(x, sig)})[0]
    ours = model.predict(x, verbose=0)
    expected = model_output(theirs, sig)
    assert ours.shape == expected.shape and ours.dtype == np.float32
    np.testing.assert_allclose(ours, expected, atol=atol)
    return model


# -- graphs exported by PyTorch ------------------------------------------------------------
class _Pick:
    """What a wrapper module returns: the output sequence, its last step, or h_n[-1]."""

    def __init__(self, torch, module, pick: str):
        class Wrapped(torch.nn.Module):
            def __init__(self):
                super().__init__()
                self.rnn = module

            def forward(self, x):
                y, state = self.rnn(x)
                h = state[0] if isinstance(state, tuple) else state
                if pick == "sequence":
                    return y
                if pick == "last_step":
                    return y[:, -1] if module.batch_first else y[-1]
                return h[-1]

        self.module = Wrapped().eval()


def _export(torch, module, x: np.ndarray, path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")       # the TorchScript exporter's deprecation notes
        torch.onnx.export(module, (torch.from_numpy(x),), str(path), dynamo=False,
                          input_names=["x"], output_names=["y"],
                          dynamic_axes={"x": {0: "d0", 1: "d1"}})


KINDS = [("LSTM", {}), ("GRU", {}), ("RNN", {"nonlinearity": "tanh"}), ("RNN", {"nonlinearity": "relu"})]


@pytest.mark.parametrize("pick", ["sequence", "last_step", "h_n"])
@pytest.mark.parametrize("batch_first", [True, False], ids=["batch_first", "time_major"])
@pytest.mark.parametrize("layers", [1, 2])
@pytest.mark.parametrize("kind,kw", KINDS, ids=["lstm", "gru", "rnn_tanh", "rnn_relu"])
def test_torch_exported_graphs(kind, kw, layers, batch_first, pick, tmp_path):
    torch = require("torch")
    require("onnx")
    torch.manual_seed(0)
    rnn = getattr(torch.nn, kind)(F, H, num_layers=layers, batch_first=batch_first, **kw)
    x = _x()
    xt = x if batch_first else x.transpose(1, 0, 2).copy()
    _export(torch, _Pick(torch, rnn, pick).module, xt, tmp_path / "m.onnx")
    model = _check(tmp_path / "m.onnx", x)
    assert model.onnx_signature["input_axes"] == (("B", "T", "F") if batch_first else ("T", "B", "F"))
    assert [type(la).__name__ for la in model.layers] == [{"RNN": "SimpleRNN"}.get(kind, kind)] * layers
    # and with a different batch and number of timesteps than the export used
    _check(tmp_path / "m.onnx", _x(3, 2))


@pytest.mark.parametrize("layers", [1, 2])
@pytest.mark.parametrize("kind,kw", KINDS[:3], ids=["lstm", "gru", "rnn_tanh"])
def test_torch_exported_bidirectional_graphs(kind, kw, layers, tmp_path):
    torch = require("torch")
    torch.manual_seed(0)
    rnn = getattr(torch.nn, kind)(F, H, num_layers=layers, batch_first=True, bidirectional=True, **kw)
    _export(torch, _Pick(torch, rnn, "sequence").module, _x(), tmp_path / "m.onnx")
    model = _check(tmp_path / "m.onnx")
    assert [type(la).__name__ for la in model.layers] == ["Bidirectional"] * layers
    assert model.predict(_x(), verbose=0).shape == (B, T, 2 * H)
    _export(torch, _Pick(torch, rnn, "last_step").module, _x(), tmp_path / "last.onnx")
    with pytest.raises(ModelFileError, match="one timestep of a bidirectional sequence"):
        load_onnx(tmp_path / "last.onnx")


@pytest.mark.parametrize("kind,pick", [("LSTM", "h_n")])  # ~30 s each on 2 cores
def test_torch_dynamo_exported_graphs(kind, pick, tmp_path):
    """torch.onnx.export's default exporter (dynamo) writes opset-18+ graphs with the sizes
    computed from Shape (Slice, Mul, Concat, Reshape)."""
    torch = require("torch")
    require("onnxscript")
    import contextlib
    import io as std_io

    torch.manual_seed(0)
    rnn = getattr(torch.nn, kind)(F, H, num_layers=2, batch_first=True)
    dims = ({0: torch.export.Dim("batch"), 1: torch.export.Dim("time")},)
    with warnings.catch_warnings(), contextlib.redirect_stdout(std_io.StringIO()):
        warnings.simplefilter("ignore")
        torch.onnx.export(_Pick(torch, rnn, pick).module, (torch.from_numpy(_x()),),
                          str(tmp_path / "m.onnx"), dynamic_shapes=dims)
    _check(tmp_path / "m.onnx")
    onnx = require("onnx")
    time_axis = onnx.load(str(tmp_path / "m.onnx")).graph.input[0].type.tensor_type.shape.dim[1]
    if time_axis.dim_param:     # torch fixes T in all but the first export of a process
        _check(tmp_path / "m.onnx", _x(3, 2))


def test_a_graph_without_recurrent_operators_is_refused(tmp_path):
    from onnx import helper, numpy_helper, TensorProto
    import onnx

    w = numpy_helper.from_array(np.ones((F, 2), np.float32), "w")
    graph = helper.make_graph([helper.make_node("MatMul", ["x", "w"], ["y"])], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["b", "t", F])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["b", "t", 2])],
                              initializer=[w])
    onnx.save(helper.make_model(graph), str(tmp_path / "m.onnx"))
    with pytest.raises(ModelFileError, match="no LSTM, GRU or RNN operator.*dynamo=False"):
        load_onnx(tmp_path / "m.onnx")


@pytest.mark.parametrize("bidirectional", [False, True], ids=["uni", "bi"])
@pytest.mark.parametrize("kind", ["LSTM", "GRU"])
def test_torch_exported_graphs_with_every_output(kind, bidirectional, tmp_path):
    """The plain export of a module: outputs y, h_n (and c_n) -> a graph model with them all."""
    torch = require("torch")
    torch.manual_seed(0)
    rnn = getattr(torch.nn, kind)(F, H, num_layers=2, batch_first=True, bidirectional=bidirectional)
    names = ["y", "h_n", "c_n"][:3 if kind == "LSTM" else 2]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(rnn.eval(), (torch.from_numpy(_x()),), str(tmp_path / "m.onnx"), dynamo=False,
                          input_names=["x"], output_names=names, dynamic_axes={"x": {0: "b", 1: "t"}})
    model = load_onnx(tmp_path / "m.onnx")
    for x in (_x(), _x(3, 2)):
        theirs = _ort(tmp_path / "m.onnx", {"x": x})
        ours = model.predict(x, verbose=0)
        assert len(ours) == len(names)
        for k, (a, b) in enumerate(zip(ours, theirs)):
            np.testing.assert_allclose(a, model_output(b, model.onnx_signature, k), atol=1e-5)
    D = 2 if bidirectional else 1
    assert ours[1].shape == (3, 2 * D * H)      # h_n (layers·directions, B, H) -> (B, ·H)


def test_torch_graph_with_a_linear_head(tmp_path):
    torch = require("torch")
    torch.manual_seed(1)

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.lstm = torch.nn.LSTM(F, H, num_layers=2, batch_first=True)
            self.fc = torch.nn.Linear(H, 2)

        def forward(self, x):
            return torch.sigmoid(self.fc(self.lstm(x)[0][:, -1, :]))

    _export(torch, Net().eval(), _x(), tmp_path / "net.onnx")
    model = _check(tmp_path / "net.onnx")
    assert [type(la).__name__ for la in model.layers] == ["LSTM", "LSTM", "Dense"]
    assert model.layers[-1].activation.name == "sigmoid"


# -- graphs written with onnx.helper -------------------------------------------------------
G = {"LSTM": 4, "GRU": 3, "RNN": 1}


def _graph(path, op: str = "LSTM", *, direction: str = "forward", layout: int = 0,
           outputs: tuple[str, ...] = ("Y",), attrs: dict | None = None, extra_inputs: dict | None = None,
           flip: bool = False, seed: int = 0, bias: bool = True, head: list | None = None,
           head_inits: list | None = None):
    """A graph: input x (batch-major unless layout... see below) -> [Transpose] -> op -> the
    chosen outputs; ``flip`` reverses Y in time; ``head`` appends nodes after the output."""
    onnx = require("onnx")
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(seed)
    D = 2 if direction == "bidirectional" else 1
    inits = [numpy_helper.from_array(nonzero_uniform(rng, (D, G[op] * H, F), dtype="float32"), "W"),
             numpy_helper.from_array(nonzero_uniform(rng, (D, G[op] * H, H), dtype="float32"), "R")]
    if bias:
        inits.append(numpy_helper.from_array(nonzero_uniform(rng, (D, 2 * G[op] * H), dtype="float32"), "B"))
    nodes = []
    x_name = "x"
    if layout == 0:
        nodes.append(helper.make_node("Transpose", ["x"], ["xt"], perm=[1, 0, 2]))
        x_name = "xt"
    ins = [x_name, "W", "R", "B" if bias else ""]
    for name, value in (extra_inputs or {}).items():
        index = {"sequence_lens": 4, "initial_h": 5, "initial_c": 6, "P": 7}[name]
        ins += [""] * (index + 1 - len(ins))
        ins[index] = name
        if isinstance(value, np.ndarray):
            inits.append(numpy_helper.from_array(value, name))
    outs = ["Y", "Y_h", "Y_c"][:3 if op == "LSTM" else 2]
    nodes.append(helper.make_node(op, ins, outs, name=f"my_{op.lower()}", hidden_size=H,
                                  direction=direction, layout=layout, **(attrs or {})))
    graph_outputs = []
    for o in outputs:
        if o == "Y":
            if layout == 0:     # (T, D, B, H) -> (B, T, D, H) -> (B, T, D·H)
                nodes.append(helper.make_node("Transpose", ["Y"], ["Yb"], perm=[2, 0, 1, 3]))
            else:               # (B, T, D, H)
                nodes.append(helper.make_node("Identity", ["Y"], ["Yb"]))
            inits.append(numpy_helper.from_array(np.array([0, 0, -1], np.int64), "shape"))
            nodes.append(helper.make_node("Reshape", ["Yb", "shape"], ["Yr"]))
            last = "Yr"
            if flip:
                for name, v in (("fs", [-1]), ("fe", [np.iinfo(np.int64).min]), ("fa", [1]), ("fst", [-1])):
                    inits.append(numpy_helper.from_array(np.array(v, np.int64), name))
                nodes.append(helper.make_node("Slice", ["Yr", "fs", "fe", "fa", "fst"], ["Yf"]))
                last = "Yf"
        else:                   # Y_h / Y_c: (D, B, H) or (B, D, H) -> (B, D·H)
            perm = [1, 0, 2] if layout == 0 else [0, 1, 2]
            nodes.append(helper.make_node("Transpose", [o], [o + "b"], perm=perm))
            inits.append(numpy_helper.from_array(np.array([0, -1], np.int64), o + "_shape"))
            nodes.append(helper.make_node("Reshape", [o + "b", o + "_shape"], [o + "r"]))
            last = o + "r"
        for node in head or []:
            node.input[0] = last if node.input[0] == "@" else node.input[0]
            nodes.append(node)
            last = node.output[0]
        final = f"out_{o}"
        nodes.append(helper.make_node("Identity", [last], [final]))
        rank = 3 if o == "Y" else 2
        graph_outputs.append(helper.make_tensor_value_info(final, TensorProto.FLOAT,
                                                           [f"{final}_{i}" for i in range(rank)]))
    inputs = [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", "time", F] if layout == 0
                                            else ["batch", "time", F])]
    for name, value in (extra_inputs or {}).items():
        if not isinstance(value, np.ndarray):
            shape = [D, "batch", H] if name.startswith("initial") else ["batch"]
            inputs.append(helper.make_tensor_value_info(name, value, shape))
    graph = helper.make_graph(nodes, "g", inputs, graph_outputs, initializer=inits + (head_inits or []))
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    proto.ir_version = 8
    onnx.checker.check_model(proto)
    onnx.save(proto, str(path))
    return path


@pytest.mark.parametrize("output", ["Y", "Y_h"])
@pytest.mark.parametrize("op", ["LSTM", "GRU", "RNN"])
def test_forward_operators(op, output, tmp_path):
    model = _check(_graph(tmp_path / "m.onnx", op, outputs=(output,)))
    assert model.layers[0].return_sequences == (output == "Y")


@pytest.mark.parametrize("output", ["Y", "Y_h"])
@pytest.mark.parametrize("op", ["LSTM", "GRU", "RNN"])
def test_layout_1(op, output, tmp_path):
    """ONNX Runtime refuses layout=1, so the batch-major graph is compared with ONNX's
    reference evaluator and with ONNX Runtime on its layout=0 twin (same weights)."""
    from onnx.reference import ReferenceEvaluator

    path = _graph(tmp_path / "b.onnx", op, layout=1, outputs=(output,))
    model = load_onnx(path)
    x = _x()
    ours = model.predict(x, verbose=0)
    reference = ReferenceEvaluator(str(path)).run(None, {"x": x})[0]
    np.testing.assert_allclose(ours, model_output(reference, model.onnx_signature), atol=1e-5)
    twin = _ort(_graph(tmp_path / "t.onnx", op, layout=0, outputs=(output,)), {"x": x})[0]
    np.testing.assert_allclose(ours, twin, atol=1e-5)


@pytest.mark.parametrize("op", ["LSTM", "GRU", "RNN"])
def test_reverse_direction(op, tmp_path):
    model = _check(_graph(tmp_path / "h.onnx", op, direction="reverse", outputs=("Y_h",)))
    assert model.layers[0].go_backwards
    _check(_graph(tmp_path / "y.onnx", op, direction="reverse", outputs=("Y",), flip=True))
    with pytest.raises(ModelFileError, match="no Keras layer reverses time"):
        load_onnx(_graph(tmp_path / "bad.onnx", op, direction="reverse", outputs=("Y",)))


@pytest.mark.parametrize("output", ["Y", "Y_h"])
@pytest.mark.parametrize("op", ["LSTM", "GRU", "RNN"])
def test_bidirectional(op, output, tmp_path):
    model = _check(_graph(tmp_path / "m.onnx", op, direction="bidirectional", outputs=(output,)))
    assert type(model.layers[0]).__name__ == "Bidirectional"
    assert model.predict(_x(), verbose=0).shape[-1] == 2 * H


@pytest.mark.parametrize("lbr", [0, 1])
def test_gru_linear_before_reset(lbr, tmp_path):
    model = _check(_graph(tmp_path / "m.onnx", "GRU", attrs={"linear_before_reset": lbr}))
    assert model.layers[0].reset_after == bool(lbr)


def test_activations_and_no_bias(tmp_path):
    hard = {"activations": ["HardSigmoid", "Tanh", "Tanh"], "activation_alpha": [1 / 6],
            "activation_beta": [0.5]}
    model = _check(_graph(tmp_path / "hs.onnx", "LSTM", attrs=hard))
    assert model.layers[0].recurrent_activation.name == "hard_sigmoid"
    model = _check(_graph(tmp_path / "relu.onnx", "RNN", attrs={"activations": ["Relu"]}, bias=False))
    assert model.layers[0].activation.name == "relu" and not model.layers[0].use_bias
    keras2 = {"activations": ["HardSigmoid", "Tanh", "Tanh"]}      # ONNX default alpha 0.2
    with pytest.raises(ModelFileError, match="Keras 3's hard_sigmoid"):
        load_onnx(_graph(tmp_path / "k2.onnx", "LSTM", attrs=keras2))


def test_zero_initial_states_are_accepted_others_refused(tmp_path):
    from onnx import TensorProto

    zeros = {"initial_h": np.zeros((1, B, H), np.float32), "initial_c": np.zeros((1, B, H), np.float32)}
    _check(_graph(tmp_path / "z.onnx", "LSTM", extra_inputs=zeros))
    ones = {"initial_h": np.ones((1, B, H), np.float32)}
    with pytest.raises(ModelFileError, match="'initial_h' is not all zeros"):
        load_onnx(_graph(tmp_path / "o.onnx", "GRU", extra_inputs=ones))
    with pytest.raises(ModelFileError, match="sequence_lens"):
        load_onnx(_graph(tmp_path / "s.onnx", "GRU", extra_inputs={"sequence_lens": TensorProto.INT32}))


@pytest.mark.parametrize("direction", ["forward", "reverse", "bidirectional"])
@pytest.mark.parametrize("op", ["LSTM", "GRU", "RNN"])
def test_initial_states_as_graph_inputs(op, direction, tmp_path):
    from onnx import TensorProto

    names = ["initial_h", "initial_c"][:2 if op == "LSTM" else 1]
    path = _graph(tmp_path / "m.onnx", op, direction=direction, outputs=("Y_h",),
                  extra_inputs={n: TensorProto.FLOAT for n in names})
    model = load_onnx(path)
    D = 2 if direction == "bidirectional" else 1
    rng = np.random.default_rng(7)
    feeds = {n: rng.normal(size=(D, B, H)).astype("float32") for n in names}
    x = _x()
    theirs = _ort(path, {"x": x, **feeds})[0]
    ours = model.predict(model_inputs(x, feeds, model.onnx_signature), verbose=0)
    np.testing.assert_allclose(ours, model_output(theirs, model.onnx_signature), atol=1e-5)
    assert len(model.inputs) == 1 + D * len(names)


@pytest.mark.parametrize("bidirectional", [False, True], ids=["uni", "bi"])
@pytest.mark.parametrize("kind", ["LSTM", "GRU"])
def test_torch_exported_initial_states(kind, bidirectional, tmp_path):
    """forward(x, h0[, c0]) exported: PyTorch slices h0 per layer; every output compared."""
    torch = require("torch")
    torch.manual_seed(0)
    rnn = getattr(torch.nn, kind)(F, H, num_layers=2, batch_first=True, bidirectional=bidirectional)
    lstm = kind == "LSTM"

    class WithStates(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.rnn = rnn

        def forward(self, x, h0, c0):
            y, final = self.rnn(x, (h0, c0) if lstm else h0)
            return (y, *final) if lstm else (y, final)

    rows = 2 * (2 if bidirectional else 1)
    rng = np.random.default_rng(3)
    feeds = {n: rng.normal(size=(rows, B, H)).astype("float32") for n in ("h0", "c0")}
    names = ["y", "h_n", "c_n"][:3 if lstm else 2]
    args = (torch.from_numpy(_x()), torch.from_numpy(feeds["h0"]), torch.from_numpy(feeds["c0"]))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(WithStates().eval(), args, str(tmp_path / "m.onnx"), dynamo=False,
                          input_names=["x", "h0", "c0"], output_names=names,
                          dynamic_axes={"x": {0: "b", 1: "t"}, "h0": {1: "b"}, "c0": {1: "b"}})
    model = load_onnx(tmp_path / "m.onnx")
    if not lstm:
        feeds.pop("c0")                         # unused by a GRU graph: not a graph input
    theirs = _ort(tmp_path / "m.onnx", {"x": _x(), **feeds})
    ours = model.predict(model_inputs(_x(), feeds, model.onnx_signature), verbose=0)
    for k, (a, b) in enumerate(zip(ours, theirs, strict=True)):
        np.testing.assert_allclose(a, model_output(b, model.onnx_signature, k), atol=1e-5)


def test_refused_attributes_are_named(tmp_path):
    with pytest.raises(ModelFileError, match="'P' \\(peepholes\\)"):
        load_onnx(_graph(tmp_path / "p.onnx", "LSTM",
                         extra_inputs={"P": np.ones((1, 3 * H), np.float32)}))
    with pytest.raises(ModelFileError, match="'clip'"):
        load_onnx(_graph(tmp_path / "c.onnx", "LSTM", attrs={"clip": 3.0}))
    with pytest.raises(ModelFileError, match="'input_forget'"):
        load_onnx(_graph(tmp_path / "f.onnx", "LSTM", attrs={"input_forget": 1}))
    with pytest.raises(ModelFileError, match="tanh for g and relu for h"):
        load_onnx(_graph(tmp_path / "g.onnx", "LSTM",
                         attrs={"activations": ["Sigmoid", "Tanh", "Relu"]}))


def test_dense_head_and_unknown_operators(tmp_path):
    from onnx import helper, numpy_helper

    rng = np.random.default_rng(5)
    w = numpy_helper.from_array(nonzero_uniform(rng, (H, 2), dtype="float32"), "hw")
    b = numpy_helper.from_array(nonzero_uniform(rng, (2,), dtype="float32"), "hb")
    head = [helper.make_node("MatMul", ["@", "hw"], ["mm"]), helper.make_node("Add", ["mm", "hb"], ["ad"]),
            helper.make_node("Tanh", ["ad"], ["th"])]
    path = _graph(tmp_path / "head.onnx", "GRU", outputs=("Y_h",), head=head, head_inits=[w, b])
    model = _check(path)
    assert [type(la).__name__ for la in model.layers] == ["GRU", "Dense"]
    assert model.layers[1].activation.name == "tanh"

    path = _graph(tmp_path / "act.onnx", "LSTM", outputs=("Y",), head=[helper.make_node("Relu", ["@"], ["r"])])
    model = _check(path)
    assert [type(la).__name__ for la in model.layers] == ["LSTM", "Activation"]

    odd = [helper.make_node("Cos", ["@"], ["c1"]), helper.make_node("Erf", ["c1"], ["c2"]),
           helper.make_node("Cos", ["c2"], ["c3"])]
    path = _graph(tmp_path / "odd.onnx", "GRU", outputs=("Y_h",), head=odd)
    with pytest.raises(ModelFileError, match=r"\['Cos', 'Erf'\] \(used 3 time"):
        load_onnx(path)


def test_damaged_and_multi_output_files(tmp_path):
    (tmp_path / "junk.onnx").write_bytes(b"\x08\x07garbage\xff\xff")
    with pytest.raises(ModelFileError):
        load_onnx(tmp_path / "junk.onnx")
    path = _graph(tmp_path / "two.onnx", "LSTM", outputs=("Y", "Y_h", "Y_c"))
    model = load_onnx(path)                           # a graph model with three outputs
    x = _x()
    theirs = _ort(path, {"x": x})
    for k, ours in enumerate(model.predict(x, verbose=0)):
        np.testing.assert_allclose(ours, model_output(theirs[k], model.onnx_signature, k), atol=1e-5)
    model = load_onnx(path, outputs=["out_Y_h"])      # or just one of them
    assert not model.layers[0].return_sequences
