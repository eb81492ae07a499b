"""``unrolled explain``: the seed question answered for one concrete configuration.

*How does an LSTM work when each timestep has several input features?* For
``LSTM(units=U, input_shape=(T, F))`` — or a ``GRU`` or ``SimpleRNN`` — this prints the
Keras summary, the parameter breakdown, every per-gate weight shape, the equations with
the shape of every term, and the answer in words for these very numbers::

    print(explain("gru", units=1, timesteps=1, features=2))     # 15 parameters
"""
from __future__ import annotations

from ..errors import ConfigError
from ..layers import GRU, LSTM, SimpleRNN
from ..models import Sequential

LAYERS = ("lstm", "gru", "simple_rnn")


def _equations(F: int, U: int) -> list[str]:
    return [
        "The LSTM equations, one timestep t (B = batch size; shapes for this configuration):",
        "",
        f"  x_t                                       (B, {F})       the {F} feature(s) at step t",
        f"  i_t = σ(x_t·kernel_i + h_(t-1)·recurrent_kernel_i + bias_i)   (B, {F})·({F}, {U}) + (B, {U})·({U}, {U}) + ({U},) -> (B, {U})",
        f"  f_t = σ(x_t·kernel_f + h_(t-1)·recurrent_kernel_f + bias_f)   -> (B, {U})   forget gate",
        f"  g_t = tanh(x_t·kernel_c + h_(t-1)·recurrent_kernel_c + bias_c) -> (B, {U})   candidate cell value",
        f"  o_t = σ(x_t·kernel_o + h_(t-1)·recurrent_kernel_o + bias_o)   -> (B, {U})   output gate",
        f"  c_t = f_t ⊙ c_(t-1) + i_t ⊙ g_t                               -> (B, {U})   elementwise",
        f"  h_t = o_t ⊙ tanh(c_t)                                         -> (B, {U})   the output at step t",
        "",
        "  σ = recurrent_activation (sigmoid), tanh = activation; ⊙ is elementwise.",
        "  In practice the four gates are one product: x_t·kernel is (B, F)·(F, 4U) -> (B, 4U).",
    ]


def _answer(T: int, F: int, U: int) -> list[str]:
    feats = "feature" if F == 1 else "features"
    lines = [
        "What this means for input_shape=(timesteps, features) = "
        f"({T}, {F}) and units={U}:",
        "",
        f"  • At every timestep x_t is a vector of {F} {feats}, not a single number.",
        f"  • Each of the 4 gates of each of the {U} unit(s) reads ALL {F} {feats} at once,",
        f"    through one column of {F} weight(s): kernel_c[:, j] is the column of unit j's",
        "    candidate gate. So the features are mixed by a weighted sum inside every gate;",
        "    they are not processed one after another.",
        f"  • The cell state c_t is one number per unit per sample: shape (batch, {U}),",
        "    whatever the number of features. So is the hidden state h_t.",
        f"  • The same weights are reused at all {T} timestep(s); timesteps add no parameters.",
        f"  • Each extra feature adds 4·units = {4 * U} parameter(s) (one more row in each",
        f"    gate's kernel): with F={F + 1} this layer would have "
        f"{4 * ((F + 1) * U + U * U + U)} instead of {4 * (F * U + U * U + U)}.",
    ]
    return lines


def explain_lstm(units: int, timesteps: int, features: int) -> str:
    """The full explanation text for ``Sequential([LSTM(units, input_shape=(timesteps, features))])``."""
    lstm = LSTM(units, input_shape=(timesteps, features), name="lstm")
    model = Sequential([lstm], name="sequential")
    F, U, T = features, units, timesteps
    out = [_summary(model), ""]
    out += _gate_lines(lstm, "ifco", ["input gate", "forget gate", "cell candidate", "output gate"],
                       "gate order i, f, c, o")
    out.append("")
    out.append(
        f"Parameters: 4 × (features·units + units·units + units) = 4 × ({F}·{U} + {U}·{U} + {U}) "
        f"= {lstm.count_params()}"
    )
    out.append(f"  kernel: 4·{F}·{U} = {4 * F * U}    recurrent_kernel: 4·{U}·{U} = {4 * U * U}    "
               f"bias: 4·{U} = {4 * U}")
    out.append("")
    out.extend(_equations(F, U))
    out.append("")
    out.extend(_answer(T, F, U))
    out.append("")
    out.append(_compare(F, U))
    return "\n".join(out)


# -- GRU and SimpleRNN, and what the three have in common ---------------------------------
def param_counts(features: int, units: int) -> dict[str, int]:
    """Parameters of each layer for the same features and units (GRU with and without
    reset_after)."""
    F, U = features, units
    return {"SimpleRNN": F * U + U * U + U, "GRU": 3 * (F * U + U * U + 2 * U),
            "GRU(reset_after=False)": 3 * (F * U + U * U + U), "LSTM": 4 * (F * U + U * U + U)}


def _summary(model: Sequential) -> str:
    return model.summary(return_string=True) or ""


def _compare(F: int, U: int) -> str:
    n = param_counts(F, U)
    return (f"Same features={F} and units={U} in each layer: SimpleRNN {n['SimpleRNN']:,} · "
            f"GRU {n['GRU']:,} ({n['GRU(reset_after=False)']:,} with reset_after=False) · "
            f"LSTM {n['LSTM']:,} parameters.")


def _gate_lines(layer: LSTM | GRU, gates: str, meanings: list[str], order: str) -> list[str]:
    out = ["Per-gate weights (views into the packed Keras arrays kernel, recurrent_kernel, bias):"]
    for gate, meaning in zip(gates, meanings):
        k = getattr(layer, f"kernel_{gate}").shape
        r = getattr(layer, f"recurrent_kernel_{gate}").shape
        b = getattr(layer, f"bias_{gate}").shape
        out.append(f"  kernel_{gate} {k}   recurrent_kernel_{gate} {r}   bias_{gate} {b}   — {meaning}")
    out.append(f"  packed: kernel {layer.kernel.shape}, recurrent_kernel "
               f"{layer.recurrent_kernel.shape}, bias {getattr(layer.bias, 'shape', None)}  ({order})")
    return out


def explain_gru(units: int, timesteps: int, features: int, reset_after: bool = True) -> str:
    """The explanation text for ``Sequential([GRU(units, input_shape=(timesteps, features)))])``."""
    gru = GRU(units, input_shape=(timesteps, features), reset_after=reset_after, name="gru")
    model = Sequential([gru], name="sequential")
    F, U, T = features, units, timesteps
    nb = 2 if reset_after else 1
    order = ("gate order z, r, h; bias row 0 = input bias, row 1 = recurrent bias"
             if reset_after else "gate order z, r, h")
    out = [_summary(model), ""]
    out += _gate_lines(gru, "zrh", ["update gate", "reset gate", "candidate ĥ"], order)
    out += ["", f"Parameters: 3 × (features·units + units·units + {'2·' if nb == 2 else ''}units) "
                f"= 3 × ({F}·{U} + {U}·{U} + {'2·' if nb == 2 else ''}{U}) = {gru.count_params():,}",
            f"  kernel: 3·{F}·{U} = {3 * F * U}    recurrent_kernel: 3·{U}·{U} = {3 * U * U}    "
            f"bias: {'2·' if nb == 2 else ''}3·{U} = {3 * nb * U}" + ("  (separate input and recurrent biases)"
                                                 if reset_after else ""), ""]
    default = ", Keras's default" if reset_after else ""
    mm = f"(B, {F})·({F}, {U})"
    rr = f"(B, {U})·({U}, {U})"
    out += [f"The GRU equations, one timestep t (B = batch size; shapes for this configuration; "
            f"reset_after={reset_after}{default}):", "",
            f"  x_t   (B, {F})   the {F} feature(s) at step t"]
    if reset_after:
        out += ["  z_t = σ(x_t·kernel_z + bias_z[0] + h_(t-1)·recurrent_kernel_z + bias_z[1])",
                f"        {mm} + ({U},) + {rr} + ({U},) -> (B, {U})   update gate",
                f"  r_t = σ(x_t·kernel_r + bias_r[0] + h_(t-1)·recurrent_kernel_r + bias_r[1])"
                f"   -> (B, {U})   reset gate",
                "  ĥ_t = tanh(x_t·kernel_h + bias_h[0] + r_t ⊙ (h_(t-1)·recurrent_kernel_h + bias_h[1]))",
                f"        {mm} + ({U},) + (B, {U}) ⊙ ({rr} + ({U},)) -> (B, {U})   candidate"]
    else:
        out += ["  z_t = σ(x_t·kernel_z + h_(t-1)·recurrent_kernel_z + bias_z)",
                f"        {mm} + {rr} + ({U},) -> (B, {U})   update gate",
                f"  r_t = σ(x_t·kernel_r + h_(t-1)·recurrent_kernel_r + bias_r)   -> (B, {U})   reset gate",
                "  ĥ_t = tanh(x_t·kernel_h + (r_t ⊙ h_(t-1))·recurrent_kernel_h + bias_h)",
                f"        {mm} + ((B, {U}) ⊙ (B, {U}))·({U}, {U}) + ({U},) -> (B, {U})   candidate"]
    out += [f"  h_t = z_t ⊙ h_(t-1) + (1 − z_t) ⊙ ĥ_t   -> (B, {U})   the output at step t", "",
            "  σ = recurrent_activation (sigmoid), tanh = activation; ⊙ is elementwise.",
            "  In practice the three gates are one product: x_t·kernel is (B, F)·(F, 3U) -> (B, 3U).",
            ""]
    feats = "feature" if F == 1 else "features"
    other = 3 * (F * U + U * U + (U if reset_after else 2 * U))
    out += [f"What this means for input_shape=(timesteps, features) = ({T}, {F}) and units={U}:", "",
            f"  • At every timestep x_t is a vector of {F} {feats}, not a single number.",
            f"  • Each of the 3 gates (z, r, ĥ) of each of the {U} unit(s) reads ALL {F} {feats}",
            f"    at once, through one column of {F} weight(s): kernel_h[:, j] is the column of",
            "    unit j's candidate. The features are mixed by a weighted sum inside every gate.",
            "  • There is no separate cell state: h_t is the only state, one number per unit per",
            f"    sample, shape (batch, {U}), whatever the number of features.",
            "  • z_t decides, per unit, how much of h_(t-1) to keep (z = 1 copies the past);",
            "    r_t decides how much of h_(t-1) enters the candidate ĥ_t.",
            f"  • The same weights are reused at all {T} timestep(s); timesteps add no parameters.",
            f"  • Each extra feature adds 3·units = {3 * U} parameter(s) (one more row in each",
            f"    gate's kernel): with F={F + 1} this layer would have "
            f"{gru.count_params() + 3 * U:,} instead of {gru.count_params():,}.",
            f"  • reset_after={not reset_after} would give {other:,} parameters "
            + ("(one bias row instead of two)." if reset_after else
               "(a second, recurrent bias row; Keras's default)."), "", _compare(F, U)]
    return "\n".join(out)


def explain_simple_rnn(units: int, timesteps: int, features: int) -> str:
    """The explanation text for ``Sequential([SimpleRNN(units, input_shape=(timesteps, features))])``."""
    rnn = SimpleRNN(units, input_shape=(timesteps, features), name="simple_rnn")
    model = Sequential([rnn], name="sequential")
    F, U, T = features, units, timesteps
    feats = "feature" if F == 1 else "features"
    return "\n".join([
        _summary(model), "",
        "Weights (a SimpleRNN has no gates: one block each):",
        f"  kernel {rnn.kernel.shape}   recurrent_kernel {rnn.recurrent_kernel.shape}   "
        f"bias ({U},)", "",
        f"Parameters: features·units + units·units + units = {F}·{U} + {U}·{U} + {U} = "
        f"{rnn.count_params():,}",
        f"  kernel: {F}·{U} = {F * U}    recurrent_kernel: {U}·{U} = {U * U}    bias: {U}", "",
        "The SimpleRNN equation, one timestep t (B = batch size; shapes for this configuration):", "",
        f"  x_t   (B, {F})   the {F} feature(s) at step t",
        "  h_t = tanh(x_t·kernel + h_(t-1)·recurrent_kernel + bias)",
        f"        (B, {F})·({F}, {U}) + (B, {U})·({U}, {U}) + ({U},) -> (B, {U})   the output at step t",
        "", "  tanh = activation.", "",
        f"What this means for input_shape=(timesteps, features) = ({T}, {F}) and units={U}:", "",
        f"  • At every timestep x_t is a vector of {F} {feats}, not a single number.",
        f"  • Each of the {U} unit(s) reads ALL {F} {feats} at once through one column of",
        f"    {F} weight(s): kernel[:, j] is unit j's column. The features are mixed by a",
        "    weighted sum; they are not processed one after another.",
        f"  • The state h_t is one number per unit per sample: shape (batch, {U}).",
        "  • No gates: all memory passes through tanh at every step, so what happened many",
        "    steps ago fades (and its gradient vanishes) — the problem LSTM and GRU gates solve.",
        f"  • The same weights are reused at all {T} timestep(s); timesteps add no parameters.",
        f"  • Each extra feature adds units = {U} parameter(s): with F={F + 1} this layer would",
        f"    have {rnn.count_params() + U:,} instead of {rnn.count_params():,}.", "",
        _compare(F, U)])


def explain(layer: str, units: int, timesteps: int, features: int,
            reset_after: bool | None = None, bidirectional: bool = False,
            merge_mode: str | None = "concat") -> str:
    """The explanation text for ``layer`` in ``lstm``, ``gru``, ``simple_rnn``.
    ``reset_after`` applies to GRU only (None: Keras's default, True); ``bidirectional``
    explains ``Bidirectional(layer, merge_mode)`` instead."""
    kind = layer.lower().replace("-", "_")
    if kind not in LAYERS:
        raise ConfigError(f"explain: layer must be one of {', '.join(LAYERS)}, got {layer!r}.")
    if reset_after is not None and kind != "gru":
        raise ConfigError(f"reset_after applies to the GRU only, not to {kind}.")
    if bidirectional:
        from .explain_bidirectional import explain_bidirectional
        return explain_bidirectional(kind, units, timesteps, features, reset_after, merge_mode)
    if kind == "gru":
        return explain_gru(units, timesteps, features, True if reset_after is None else reset_after)
    if kind == "simple_rnn":
        return explain_simple_rnn(units, timesteps, features)
    return explain_lstm(units, timesteps, features)
