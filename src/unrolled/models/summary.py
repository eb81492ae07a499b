"""``model.summary()``: Keras 3's table, then where every parameter count comes from.

A graph model that is not a plain chain (several inputs, a merge, a shared layer) gets
Keras's fourth column, "Connected to": ``layer[node][output]`` for every input of every
call. Cells wrap at spaces to the column width, as Keras's (rich) table does in 80 columns.
"""
from __future__ import annotations

import textwrap
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


def _table(rows: list[tuple[str, ...]], header: tuple[str, ...] = ("Layer (type)", "Output Shape", "Param #"),
           widths: list[int] | None = None, wrap: bool = False) -> list[str]:
    # Keras's widths in an 80-column terminal; widened if a cell needs more room (or, with
    # ``wrap``, cells wrap at spaces as rich does).
    right = {2}
    if widths is None:
        widths = [31, 22, 13]
    if wrap:
        widths = [max(w, len(header[k])) for k, w in enumerate(widths)]
    else:
        widths = [max([w, len(header[k])] + [len(r[k]) for r in rows]) for k, w in enumerate(widths)]

    def line(left: str, mid: str, right_: str, fill: str) -> str:
        return left + mid.join(fill * (w + 2) for w in widths) + right_

    def cells(values: tuple[str, ...], bar: str) -> list[str]:
        wrapped = [textwrap.wrap(v, w, break_on_hyphens=False) or [""] if wrap else [v]
                   for v, w in zip(values, widths)]
        out = []
        for i in range(max(len(c) for c in wrapped)):
            parts = [(c[i] if i < len(c) else "") for c in wrapped]
            parts = [p.rjust(w) if k in right else p.ljust(w) for k, (p, w) in enumerate(zip(parts, widths))]
            out.append(bar + bar.join(f" {p} " for p in parts) + bar)
        return out

    out = [line("┏", "┳", "┓", "━"), *cells(header, "┃"), line("┡", "╇", "┩", "━")]
    for k, row in enumerate(rows):
        if k:
            out.append(line("├", "┼", "┤", "─"))
        out.extend(cells(row, "│"))
    out.append(line("└", "┴", "┘", "─"))
    return out


def _bytes(weights: list[np.ndarray]) -> int:
    return int(sum(w.size * w.dtype.itemsize for w in weights))


def _chain_rows(model: Any) -> list[tuple[str, ...]]:
    """Sequential: each layer's output shape from the previous one."""
    rows = []
    shape = model.input_batch_shape
    for layer in model.layers:
        shape = layer.compute_output_shape(shape) if shape is not None else None
        out_shape = "?" if shape is None else _shape_text(shape)
        count = f"{layer.count_params():,}" if layer.built else "0 (unbuilt)"
        rows.append((f"{layer.name} ({type(layer).__name__})", out_shape, count))
        if isinstance(shape, list):
            shape = shape[0]
    return rows


def _graph_rows(model: Any) -> tuple[list[tuple[str, ...]], bool]:
    """Functional: one row per layer (Keras's order); shapes from the layer's last call;
    "Connected to" unless the graph is a plain chain."""
    graph = model.graph()
    own = graph.node_ids
    calls = [n for n in graph.nodes]
    chain = all(len(n.input_tensors) <= 1 for n in calls)
    if chain:  # one node per depth and no layer called twice
        depths = [n for n in calls if not n.is_input]
        chain = len({id(n.layer) for n in depths}) == len(depths) and len(
            [n for n in calls if n.is_input]) <= 1 and all(
            sum(1 for m in calls if t in m.input_tensors) <= 1 for n in calls for t in n.outputs)
    rows = []
    for layer in graph.layers:
        nodes = layer.inbound_nodes
        outs = [t.shape for t in nodes[-1].outputs] if nodes else None
        out_shape = "?" if outs is None else _shape_text(outs[0] if nodes[-1].single else outs)
        count = f"{layer.count_params():,}" if layer.built else "0 (unbuilt)"
        row = [f"{layer.name} ({type(layer).__name__})", out_shape, count]
        if not chain:
            links = [f"{t.layer.name}[{t.history[1]}][{t.history[2]}]"
                     for n in nodes if id(n) in own for t in n.input_tensors]
            row.append(", ".join(links) or "-")
        rows.append(tuple(row))
    return rows, chain


def summary_text(model: Any, explain: bool = True) -> str:
    """The summary as a string: Keras's table and totals, then the parameter formulas."""
    if hasattr(model, "inputs") and hasattr(model, "_inputs_struct"):   # a Functional model
        rows, chain = _graph_rows(model)
        table = (_table(rows, wrap=True) if chain else
                 _table(rows, ("Layer (type)", "Output Shape", "Param #", "Connected to"),
                        widths=[19, 17, 10, 17], wrap=True))
    else:
        table = _table(_chain_rows(model))
    trainable, frozen = model.trainable_weights, model.non_trainable_weights
    opt_vars = model.optimizer_variables() if hasattr(model, "optimizer_variables") else []
    total = trainable + frozen + opt_vars
    lines = [f'Model: "{model.name}"', *table]
    lines.append(f" Total params: {sum(w.size for w in total):,} ({readable_bytes(_bytes(total))})")
    lines.append(f" Trainable params: {sum(w.size for w in trainable):,} ({readable_bytes(_bytes(trainable))})")
    lines.append(f" Non-trainable params: {sum(w.size for w in frozen):,} ({readable_bytes(_bytes(frozen))})")
    if opt_vars:
        lines.append(f" Optimizer params: {sum(w.size for w in opt_vars):,} ({readable_bytes(_bytes(opt_vars))})")
    if explain:
        lines.append("")
        lines.append(" Where the parameters come from:")
        for layer in model.layers:
            if layer.built and not getattr(layer, "is_input_layer", False):
                lines.append(f"  {layer.name} ({type(layer).__name__}): {layer.param_formula()}")
        kernels = model.kernel_report() if hasattr(model, "kernel_report") else []
        if kernels:
            lines.append("")
            lines.append(" Kernels used:")
            lines.extend(f"  {k}" for k in kernels)
    return "\n".join(lines)
