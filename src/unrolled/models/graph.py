"""The graph engine every model runs on: the nodes between some input tensors and some
output tensors (see :mod:`unrolled.layers.node`), in Keras's order, run forward with one
cache per node and backward with gradients accumulated per tensor and per layer.

Forward, node by node (inputs before the nodes that use them)::

    x, kwargs   = the node's input arrays (initial_state=[h, c] and mask= included)
    mask        = Keras's rule: an explicit mask= tensor; else, if x is the call's only
                  tensor argument, the mask x carries; else none
    y, cache    = layer.forward(x, training, mask=mask, **kwargs)
    mask of y   = layer.compute_mask(x, mask or x's mask) if layer.supports_masking

Backward, in reverse order: the gradients reaching each output tensor of a node are summed
(a tensor used twice gets both); ``layer.backward`` (``backward_with_states`` when the
call had ``initial_state`` tensors, whose gradients flow back into the layers that made
them) returns the input gradients, and a layer called several times (shared weights)
gets the sum of its calls' weight gradients.
"""
from __future__ import annotations

from collections import defaultdict
from typing import Any

import numpy as np

from ..errors import ConfigError
from ..layers.node import Node, SymbolicTensor, is_symbolic, iter_tensors, map_tensors


class GraphCache:
    """What :meth:`Graph.backward` needs from one :meth:`Graph.forward`: each node's cache,
    and the masks the outputs carry (``output_masks``, None entries: no mask)."""

    def __init__(self) -> None:
        self.node_caches: dict[int, Any] = {}
        self.calls: list[Any] = []          # the caches in run order (a Sequential: per layer)
        self.output_masks: list[np.ndarray | None] = []

    def __getitem__(self, k: int) -> Any:
        return self.calls[k]

    def __len__(self) -> int:
        return len(self.calls)

    @property
    def output_mask(self) -> np.ndarray | None:
        """The first output's mask (the only one of a single-output model)."""
        return self.output_masks[0] if self.output_masks else None


def _build_order(inputs: list[SymbolicTensor], outputs: list[SymbolicTensor]) -> list[Node]:
    """Nodes from the inputs to the outputs, depth-first from each output (Keras's
    ``_build_map``), with a clear error for a cycle."""
    finished: set[int] = set()
    in_progress: set[int] = set()
    order: list[Node] = []
    input_ids = {id(t) for t in inputs}

    def visit(tensor: SymbolicTensor) -> None:
        if tensor.history is None:
            raise ConfigError(f"{tensor!r} was not produced by Input(...) or a layer call.")
        node = tensor.node
        if id(node) in finished:
            return
        if not node.is_input and id(tensor) in input_ids:
            finished.add(id(node))
            return
        if id(node) in in_progress:
            raise ConfigError(f"Tensor {tensor!r} from layer {node.layer.name!r} is part of a cycle.")
        in_progress.add(id(node))
        if not node.is_input:
            for t in node.input_tensors:
                visit(t)
        finished.add(id(node))
        in_progress.discard(id(node))
        order.append(node)

    for t in outputs:
        visit(t)
    return order


class Graph:
    """The nodes between ``inputs`` and ``outputs`` (flat lists of symbolic tensors)."""

    def __init__(self, inputs: list[SymbolicTensor], outputs: list[SymbolicTensor]) -> None:
        self.inputs, self.outputs = list(inputs), list(outputs)
        for t in self.inputs + self.outputs:
            if not isinstance(t, SymbolicTensor):
                raise ConfigError(
                    f"Model inputs and outputs must be symbolic tensors (from Input(...) or a "
                    f"layer call), got {type(t).__name__}.")
        order = _build_order(self.inputs, self.outputs)
        self._order_by_depth(order)
        self._check_connected()

    def _order_by_depth(self, order: list[Node]) -> None:
        """Keras's ``map_graph``: each node's depth is its distance to an output; nodes run
        by decreasing depth; layers are listed by decreasing depth, then first visit."""
        layer_index: dict[int, int] = {}
        for node in order:
            layer_index.setdefault(id(node.layer), len(layer_index))
        in_graph = {id(n) for n in order}
        node_depth: dict[int, int] = {}
        layer_depth: dict[int, int] = {}
        nodes: dict[int, Node] = {id(n): n for n in order}
        layers: dict[int, Any] = {id(n.layer): n.layer for n in order}
        for node in reversed(order):
            depth = node_depth.setdefault(id(node), 0)
            depth = max(depth, layer_depth.get(id(node.layer), 0))
            layer_depth[id(node.layer)] = depth
            node_depth[id(node)] = depth
            for parent in node.parent_nodes:
                if id(parent) in in_graph:
                    node_depth[id(parent)] = max(depth + 1, node_depth.get(id(parent), 0))
        for t in self.inputs:  # inputs that no output depends on still count
            node = t.node
            if node.is_input and id(node.layer) not in layer_depth:
                layer_depth[id(node.layer)] = 0
                layer_index[id(node.layer)] = -1
                node_depth[id(node)] = 0
                nodes[id(node)], layers[id(node.layer)] = node, node.layer
        by_depth: dict[int, list[Node]] = defaultdict(list)
        for key, depth in node_depth.items():
            by_depth[depth].append(nodes[key])
        self.nodes = [n for d in sorted(by_depth, reverse=True) for n in by_depth[d]]
        layers_by_depth: dict[int, list[Any]] = defaultdict(list)
        for key, depth in layer_depth.items():
            layers_by_depth[depth].append(layers[key])
        self.layers = [layer for d in sorted(layers_by_depth, reverse=True)
                       for layer in sorted(layers_by_depth[d], key=lambda l: layer_index[id(l)])]
        self.node_ids = {id(n) for n in self.nodes}
        self.calls = [n for n in self.nodes if not n.is_input]   # the nodes that compute
        self.chain = self._is_plain_chain()

    def _is_plain_chain(self) -> bool:
        """One input, each call on the previous call's only output, no keyword tensors and
        no layer that starts a mask: then :meth:`forward` runs a plain loop (no bookkeeping)."""
        if len(self.inputs) != 1:
            return False
        prev = self.inputs[0]
        for k, node in enumerate(self.calls):
            if node.x is not prev or any(k not in ("training", "mask") or v is not None and k == "mask"
                                         for k, v in node.kwargs.items()):
                return False   # keyword arguments other than training take the general path
            if getattr(node.layer, "creates_mask", False):
                return False
            if not node.single and k != len(self.calls) - 1:
                return False
            prev = node.outputs[0]
        return [t for t in self.outputs] == (self.calls[-1].outputs if self.calls else [])
        names = [layer.name for layer in self.layers]
        for name in names:
            if names.count(name) > 1:
                raise ConfigError(f'The name "{name}" is used {names.count(name)} times in the '
                                  "model. All layer names should be unique.")

    def _check_connected(self) -> None:
        known = {id(t) for t in self.inputs}
        for node in self.nodes:
            if node.is_input:   # an Input that is not among the model's inputs stays unknown
                continue
            for t in node.input_tensors:
                if id(t) not in known:
                    raise ConfigError(
                        f"Graph disconnected: layer {node.layer.name!r} needs tensor {t!r} "
                        f"(from layer {t.layer.name!r}), which cannot be computed from the "
                        f"model's inputs {[i.name for i in self.inputs]}. Add the Input it "
                        "comes from to the model's inputs.")
            known.update(id(t) for t in node.outputs)

    # -- forward -----------------------------------------------------------------------
    def forward(self, arrays: list[Any], training: bool = False, masks: list[Any] | None = None,
                keep_cache: bool = True) -> tuple[list[Any], GraphCache]:
        """Run every node on ``arrays`` (one per input tensor). ``keep_cache=False`` calls
        each layer's ``call`` (no caches, fast inference paths) instead of ``forward``;
        the returned cache then holds only the output masks."""
        if self.chain and masks is None:
            return self._forward_chain(arrays[0], training, keep_cache)
        values: dict[int, Any] = {id(t): a for t, a in zip(self.inputs, arrays)}
        mask_of: dict[int, Any] = {}
        if masks is not None:
            mask_of.update({id(t): m for t, m in zip(self.inputs, masks)})
        cache = GraphCache()
        for node in self.calls:
            outputs, node_cache = self._run_node(node, values, mask_of, training, keep_cache)
            if keep_cache:
                cache.node_caches[id(node)] = node_cache
                cache.calls.append(node_cache)
        missing = [t for t in self.outputs if id(t) not in values]
        if missing:
            raise ConfigError(f"Outputs {missing} are not connected to the model's inputs.")
        cache.output_masks = [mask_of.get(id(t)) for t in self.outputs]
        return [values[id(t)] for t in self.outputs], cache

    def _forward_chain(self, x: Any, training: bool, keep_cache: bool) -> tuple[list[Any], GraphCache]:
        """:meth:`forward` for a plain chain without masks (a usual Sequential)."""
        cache = GraphCache()
        for node in self.calls:
            layer = node.layer
            layer.validate_input(x.shape)
            if keep_cache:
                x, node_cache = layer.forward(x, training=training)
                cache.node_caches[id(node)] = node_cache
                cache.calls.append(node_cache)
            else:
                x = layer.call(x, training=training)
        outs = [x] if self.calls[-1].single else list(x)
        cache.output_masks = [None] * len(outs)
        return outs, cache

    @staticmethod
    def _plan(node: Node) -> tuple[Any, ...]:
        """What running ``node`` needs, worked out once: the input tensor ids, the tensor
        and plain keyword arguments, the explicit mask, and Keras's mask rule."""
        plan = getattr(node, "_plan", None)
        if plan is None:
            single = isinstance(node.x, SymbolicTensor)
            x_ids = id(node.x) if single else [id(t) for t in node.x]
            tensor_kwargs, plain = {}, {}
            for key, value in node.kwargs.items():
                if key in ("training", "mask"):
                    continue  # the model's training flag wins, as in Keras's functional call
                (tensor_kwargs if is_symbolic(value) else plain)[key] = value
            explicit = node.kwargs.get("mask")
            explicit = explicit if is_symbolic(explicit) else None
            auto_mask = explicit is None and not tensor_kwargs   # x is the only tensor argument
            plan = (single, x_ids, tensor_kwargs, plain, explicit, auto_mask)
            node._plan = plan  # type: ignore[attr-defined]
        return plan

    def _run_node(self, node: Node, values: dict[int, Any], mask_of: dict[int, Any],
                  training: bool, keep_cache: bool) -> tuple[Any, Any]:
        layer = node.layer
        single, x_ids, tensor_kwargs, plain, explicit, auto_mask = self._plan(node)
        if single:
            x = values[x_ids]
            x_mask = mask_of.get(x_ids)
        else:
            x = [values[i] for i in x_ids]
            x_mask = [mask_of.get(i) for i in x_ids]
            if all(m is None for m in x_mask):
                x_mask = None
        kwargs = dict(plain)
        for key, value in tensor_kwargs.items():
            kwargs[key] = map_tensors(value, lambda t: values[id(t)])
        if explicit is not None:
            call_mask = previous = map_tensors(explicit, lambda t: values[id(t)])
        elif auto_mask:
            call_mask = previous = x_mask
        else:
            call_mask, previous = None, x_mask
        if single:
            layer.validate_input(x.shape)
        if call_mask is not None:
            kwargs["mask"] = call_mask
        if keep_cache:
            out, node_cache = layer.forward(x, training=training, **kwargs)
        else:
            out, node_cache = layer.call(x, training=training, **kwargs), None
        if single and node.single:
            values[id(node.outputs[0])] = out
        else:
            for t, value in zip(node.outputs, [out] if node.single else out):
                values[id(t)] = value
        if layer.supports_masking and (previous is not None or getattr(layer, "creates_mask", False)):
            out_mask = layer.compute_mask(x, previous)
            if out_mask is None:
                pass
            elif node.single:
                mask_of[id(node.outputs[0])] = out_mask
            elif isinstance(out_mask, (list, tuple)):
                for t, m in zip(node.outputs, out_mask):
                    mask_of[id(t)] = m
            else:
                mask_of[id(node.outputs[0])] = out_mask
        return out, node_cache

    def ancestors(self, node: Node) -> list[Node]:
        """The computing nodes ``node`` depends on, in run order (``node`` excluded)."""
        needed: set[int] = set()
        stack = list(node.parent_nodes)
        while stack:
            parent = stack.pop()
            if id(parent) in needed or parent.is_input or id(parent) not in self.node_ids:
                continue
            needed.add(id(parent))
            stack.extend(parent.parent_nodes)
        return [n for n in self.calls if id(n) in needed]

    def node_inputs(self, node: Node, arrays: list[Any], masks: list[Any] | None = None,
                    training: bool = False) -> tuple[Any, Any, dict[str, Any]]:
        """What ``node`` receives when the graph runs on ``arrays`` (one per input tensor):
        its ``x`` (an array or a list), the mask it is called with (Keras's rule, see the
        module docstring; None for none) and its tensor keyword arguments as arrays (e.g.
        ``initial_state``). Only the nodes it depends on run, with their ``call``."""
        if id(node) not in self.node_ids or node.is_input:
            raise ConfigError(f"{node!r} is not a call in this graph.")
        values: dict[int, Any] = {id(t): a for t, a in zip(self.inputs, arrays)}
        mask_of: dict[int, Any] = {}
        if masks is not None:
            mask_of.update({id(t): m for t, m in zip(self.inputs, masks) if m is not None})
        for parent in self.ancestors(node):
            self._run_node(parent, values, mask_of, training, keep_cache=False)
        single, x_ids, tensor_kwargs, _, explicit, auto_mask = self._plan(node)
        x = values[x_ids] if single else [values[i] for i in x_ids]
        kwargs = {k: map_tensors(v, lambda t: values[id(t)]) for k, v in tensor_kwargs.items()}
        if explicit is not None:
            mask = map_tensors(explicit, lambda t: values[id(t)])
        elif auto_mask:
            mask = mask_of.get(x_ids) if single else [mask_of.get(i) for i in x_ids]
            mask = None if _all_none(mask) else mask
        else:
            mask = None
        return x, mask, kwargs

    def output_shapes(self, input_shapes: list[Any]) -> list[Any]:
        """The outputs' shapes for inputs of ``input_shapes`` (shapes only, nothing runs)."""
        shapes: dict[int, Any] = {id(t): tuple(s) for t, s in zip(self.inputs, input_shapes)}
        for node in self.nodes:
            if node.is_input:
                for t in node.outputs:
                    shapes.setdefault(id(t), t.shape)
                continue
            out = node.layer.compute_output_shape(map_tensors(node.x, lambda t: shapes[id(t)]))
            for t, shape in zip(node.outputs, [out] if node.single else list(out)):
                shapes[id(t)] = tuple(shape)
        return [shapes[id(t)] for t in self.outputs]

    # -- backward ----------------------------------------------------------------------
    def backward(self, d_outputs: list[Any], cache: GraphCache) -> tuple[list[Any], dict[int, list[Any]]]:
        """Gradients of the model inputs (one per input; None where none flows, e.g. an
        integer input) and, per layer id, the gradients of its ``trainable_weights``."""
        if self.chain:
            return self._backward_chain(d_outputs, cache)
        grads: dict[int, list[Any]] = {}
        d: dict[int, Any] = {}
        for t, g in zip(self.outputs, d_outputs):
            _add(d, t, g)
        for node in reversed(self.calls):
            single, x_ids, tensor_kwargs, _, _, _ = self._plan(node)
            if node.single:
                dy = d.get(id(node.outputs[0]))
                if dy is None:
                    continue
            else:
                dy = [d.get(id(t)) for t in node.outputs]
                if all(g is None for g in dy):
                    continue
            layer = node.layer
            node_cache = cache.node_caches[id(node)]
            states = tensor_kwargs.get("initial_state")
            if states is not None:
                dx, g, d_states = layer.backward_with_states(dy, node_cache)
                for t, ds in zip(iter_tensors(states), d_states):
                    _add(d, t, ds)
            else:
                dx, g = layer.backward(dy, node_cache)
            if g and layer.trainable:
                key = id(layer)
                grads[key] = list(g) if key not in grads else [a + b for a, b in zip(grads[key], g)]
            if single:
                if dx is not None:
                    d[x_ids] = dx if x_ids not in d else d[x_ids] + dx
            else:
                for i, dxi in zip(x_ids, dx):
                    if dxi is not None:
                        d[i] = dxi if i not in d else d[i] + dxi
        return [d.get(id(t)) for t in self.inputs], grads

    def _backward_chain(self, d_outputs: list[Any], cache: GraphCache
                        ) -> tuple[list[Any], dict[int, list[Any]]]:
        """:meth:`backward` for a plain chain (see :meth:`_is_plain_chain`): each call's
        input gradient is the previous call's output gradient, nothing to look up."""
        grads: dict[int, list[Any]] = {}
        last = self.calls[-1]
        dy: Any = d_outputs[0] if last.single else list(d_outputs)
        for node, node_cache in zip(reversed(self.calls), reversed(cache.calls)):
            if dy is None or (not node.single and all(g is None for g in dy)):
                return [None], grads
            layer = node.layer
            dy, g = layer.backward(dy, node_cache)
            if g and layer.trainable:
                key = id(layer)
                grads[key] = list(g) if key not in grads else [a + b for a, b in zip(grads[key], g)]
        return [dy], grads

    def flat_grads(self, grads: dict[int, list[Any]], layers: list[Any]) -> list[np.ndarray]:
        """One gradient per trainable weight of ``layers``, in order (zeros for a layer
        that no gradient reached)."""
        out: list[np.ndarray] = []
        for layer in layers:
            g = grads.get(id(layer))
            out.extend(g or [np.zeros_like(w) for w in layer.trainable_weights])
        return out

    def activity_penalty(self, cache: GraphCache) -> float:
        """The activity-regularization losses of every call in the last forward."""
        total = 0.0
        for node in self.calls:
            total += float(node.layer.activity_penalty(cache.node_caches[id(node)]))
        return total


def _add(d: dict[int, Any], tensor: SymbolicTensor, grad: Any) -> None:
    if grad is None:
        return
    key = id(tensor)
    d[key] = grad if key not in d else d[key] + grad


def _all_none(mask: Any) -> bool:
    if mask is None:
        return True
    if isinstance(mask, (list, tuple)):
        return all(_all_none(m) for m in mask)
    return False
