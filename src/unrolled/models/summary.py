"""``model.summary()``: Keras 3's table, then where every parameter count comes from."""
from __future__ import annotations

from typing import Any

import numpy as np


def readable_bytes(size: float) -> str:
    """Keras's memory format: 1024-based, two decimals (``64.00 B``, ``1.50 KB``)."""
    for unit in ["B", "KB", "MB", "GB", "TB"]:
        if size / 1024 < 1:
            return f"{size:.2f} {unit}"
        size /= 1024
    return f"{size:.2f} PB"


def _shape_text(shape: Any) -> str:
    if isinstance(shape, list):
        return "[" + ", ".join(_shape_text(s) for s in shape) + "]"
    return "(" + ", ".join("None" if d is None else str(d) for d in shape) + (",)" if len(shape) == 1 else ")")


def _table(rows: list[tuple[str, str, str]]) -> list[str]:
    header = ("Layer (type)", "Output Shape", "Param #")
    # Keras's widths in an 80-column terminal; widened if a cell needs more room.
    widths = [max([31, len(header[0])] + [len(r[0]) for r in rows]),
              max([22] + [len(r[1]) for r in rows]),
              max([13] + [len(r[2]) for r in rows])]

    def line(left: str, mid: str, right: str, fill: str) -> str:
        return left + mid.join(fill * (w + 2) for w in widths) + right

    def cells(values: tuple[str, str, str], bar: str) -> str:
        parts = [values[0].ljust(widths[0]), values[1].ljust(widths[1]), values[2].rjust(widths[2])]
        return bar + bar.join(f" {p} " for p in parts) + bar

    out = [line("┏", "┳", "┓", "━"), cells(header, "┃"), line("┡", "╇", "┩", "━")]
    for k, row in enumerate(rows):
        if k:
            out.append(line("├", "┼", "┤", "─"))
        out.append(cells(row, "│"))
    out.append(line("└", "┴", "┘", "─"))
    return out


def _bytes(weights: list[np.ndarray]) -> int:
    return int(sum(w.size * w.dtype.itemsize for w in weights))


def summary_text(model: Any, explain: bool = True) -> str:
    """The summary as a string: Keras's table and totals, then the parameter formulas."""
    rows = []
    shape = model.input_batch_shape
    for layer in model.layers:
        shape = layer.compute_output_shape(shape) if shape is not None else None
        out_shape = "?" if shape is None else _shape_text(shape)
        count = f"{layer.count_params():,}" if layer.built else "0 (unbuilt)"
        rows.append((f"{layer.name} ({type(layer).__name__})", out_shape, count))
        if isinstance(shape, list):
            shape = shape[0]
    trainable, frozen = model.trainable_weights, model.non_trainable_weights
    opt_vars = model.optimizer_variables() if hasattr(model, "optimizer_variables") else []
    total = trainable + frozen + opt_vars
    lines = [f'Model: "{model.name}"', *_table(rows)]
    lines.append(f" Total params: {sum(w.size for w in total):,} ({readable_bytes(_bytes(total))})")
    lines.append(f" Trainable params: {sum(w.size for w in trainable):,} ({readable_bytes(_bytes(trainable))})")
    lines.append(f" Non-trainable params: {sum(w.size for w in frozen):,} ({readable_bytes(_bytes(frozen))})")
    if opt_vars:
        lines.append(f" Optimizer params: {sum(w.size for w in opt_vars):,} ({readable_bytes(_bytes(opt_vars))})")
    if explain:
        lines.append("")
        lines.append(" Where the parameters come from:")
        for layer in model.layers:
            if layer.built:
                lines.append(f"  {layer.name} ({type(layer).__name__}): {layer.param_formula()}")
        kernels = model.kernel_report() if hasattr(model, "kernel_report") else []
        if kernels:
            lines.append("")
            lines.append(" Kernels used:")
            lines.extend(f"  {k}" for k in kernels)
    return "\n".join(lines)
