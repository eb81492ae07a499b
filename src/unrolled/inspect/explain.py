"""``unrolled explain``: the seed question answered for one concrete configuration.

*How does an LSTM work when each timestep has several input features?* For
``LSTM(units=U, input_shape=(T, F))`` this prints the Keras summary, the parameter
breakdown, every per-gate weight shape, the equations with the shape of every term, and
the answer in words for these very numbers.
"""
from __future__ import annotations

from ..layers import LSTM
from ..models import Sequential


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
        f"    whatever the number of features. So is the hidden state h_t.",
        f"  • The same weights are reused at all {T} timestep(s); timesteps add no parameters.",
        f"  • Each extra feature adds 4·units = {4 * U} parameter(s) (one more row in each",
        f"    gate's kernel): with F={F + 1} this layer would have "
        f"{4 * ((F + 1) * U + U * U + U)} instead of {4 * (F * U + U * U + U)}.",
    ]
    return lines


def explain_lstm(units: int, timesteps: int, features: int) -> str:
    """The full explanation text for ``Sequential([LSTM(units, input_shape=(timesteps, features))])``."""
    model = Sequential([LSTM(units, input_shape=(timesteps, features), name="lstm")],
                       name="sequential")
    lstm = model.layers[0]
    F, U, T = features, units, timesteps
    out = [model.summary(return_string=True), ""]
    out.append("Per-gate weights (views into the packed Keras arrays kernel, recurrent_kernel, bias):")
    for gate, meaning in zip("ifco", ["input gate", "forget gate", "cell candidate", "output gate"]):
        k = getattr(lstm, f"kernel_{gate}").shape
        r = getattr(lstm, f"recurrent_kernel_{gate}").shape
        b = getattr(lstm, f"bias_{gate}").shape
        out.append(f"  kernel_{gate} {k}   recurrent_kernel_{gate} {r}   bias_{gate} {b}   — {meaning}")
    out.append(f"  packed: kernel {lstm.kernel.shape}, recurrent_kernel {lstm.recurrent_kernel.shape}, "
               f"bias {lstm.bias.shape}  (gate order i, f, c, o)")
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
    return "\n".join(out)
