"""``unrolled explain --bidirectional``: what wrapping a recurrent layer in
``Bidirectional`` does to its parameters, weights, outputs and states."""
from __future__ import annotations

from ..layers import GRU, LSTM, Bidirectional, SimpleRNN
from ..models import Sequential

_CLASSES = {"lstm": LSTM, "gru": GRU, "simple_rnn": SimpleRNN}
_GATES = {"lstm": "ifco", "gru": "zrh", "simple_rnn": ""}
_STATES = {"lstm": ["h", "c"], "gru": ["h"], "simple_rnn": ["h"]}


def explain_bidirectional(kind: str, units: int, timesteps: int, features: int,
                          reset_after: bool | None = None, merge_mode: str | None = "concat") -> str:
    """The explanation text for ``Sequential([Bidirectional(LAYER(units), merge_mode)])`` on
    input (timesteps, features)."""
    kwargs = {} if reset_after is None else {"reset_after": reset_after}
    inner = _CLASSES[kind](units, name=kind, **kwargs)
    bi = Bidirectional(inner, merge_mode=merge_mode, name="bidirectional")
    model = Sequential([bi], name="sequential")
    model.build((None, timesteps, features))
    fwd, bwd = bi.forward_layer, bi.backward_layer
    T, F, U = timesteps, features, units
    out = [model.summary(return_string=True) or "", ""]
    out.append(f"Two independent {type(fwd).__name__} layers with the same shapes, each with its own weights:")
    for sub in (fwd, bwd):
        shapes = ", ".join(f"{n} {w.shape}" for n, w in zip(sub.weight_names, sub.weights))
        out.append(f"  {sub.name} (go_backwards={sub.go_backwards}): {shapes}")
    if _GATES[kind]:
        g = _GATES[kind][0]
        out.append(f"  per-gate views per direction, e.g. bi.forward_layer.kernel_{g} "
                   f"{getattr(fwd, f'kernel_{g}').shape} and bi.backward_layer.kernel_{g} "
                   f"{getattr(bwd, f'kernel_{g}').shape}")
    n = fwd.count_params()
    out += ["", f"Parameters: 2 × {n} = {bi.count_params()}  (one {type(fwd).__name__} per direction; "
            "nothing is shared between them)", ""]
    out.append("What runs, for a sample x_1 .. x_T:")
    out.append(f"  forward:  h→_t from x_1, x_2, ..., x_{T}   (reads the past up to t)")
    out.append(f"  backward: h←_t from x_{T}, x_{T - 1 if T > 1 else 1}, ..., x_1   (reads the future down to t);"
               " its output sequence is flipped back to time order before merging")
    merged = {"concat": f"[h→, h←] -> (B, {2 * U})", "sum": f"h→ + h← -> (B, {U})",
              "ave": f"(h→ + h←) / 2 -> (B, {U})", "mul": f"h→ ⊙ h← -> (B, {U})",
              None: f"two outputs [h→, h←], each (B, {U})"}[merge_mode]
    out.append(f"  merge_mode={merge_mode!r}: {merged}")
    out.append(f"  return_sequences=True keeps every timestep: (B, {T}, ...); otherwise the last "
               "output of each direction (the backward one has then read the whole sequence)")
    states = _STATES[kind]
    order = [f"{s}_forward" for s in states] + [f"{s}_backward" for s in states]
    out.append(f"  return_state=True appends {', '.join(order)} (each (B, {U})); "
               f"initial_state takes the same {len(order)} arrays, forward half first")
    return "\n".join(out)
