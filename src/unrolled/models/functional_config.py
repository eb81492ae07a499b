"""A Functional model's config in Keras 3's schema, and the model back from it.

Each layer entry carries ``inbound_nodes``: one ``{"args": [...], "kwargs": {...}}`` per
call in this model, where a tensor is ``{"class_name": "__keras_tensor__", "config":
{"shape", "dtype", "keras_history": [layer name, node index, output index]}}``; node
indices count only this model's calls of that layer. ``input_layers`` / ``output_layers``
keep the structure the model was built with (one triple, a list or a dict); a nested
Functional model's node indices there start at 1, as Keras counts them.
"""
from __future__ import annotations

import copy
from typing import Any

from ..errors import ConfigError
from ..layers.node import SymbolicTensor, map_tensors


def functional_config(model: Any) -> dict[str, Any]:
    from .config import serialize_layer
    from .functional import Functional

    graph = model.graph()
    own = graph.node_ids

    def node_index(layer: Any, node: Any) -> int:
        k = next(i for i, n in enumerate(layer.inbound_nodes) if n is node)
        return sum(1 for n in layer.inbound_nodes[:k] if id(n) in own)

    def tensor(t: SymbolicTensor) -> dict[str, Any]:
        layer, _, k = t.history
        return {"class_name": "__keras_tensor__",
                "config": {"shape": list(t.shape), "dtype": t.dtype,
                           "keras_history": [layer.name, node_index(layer, t.node), k]}}

    def triple(t: SymbolicTensor) -> list[Any]:
        layer, _, k = t.history
        return [layer.name, node_index(layer, t.node) + (1 if isinstance(layer, Functional) else 0), k]

    layers = []
    for layer in graph.layers:
        entry = serialize_layer(layer)
        entry["name"] = layer.name
        nodes = []
        for node in layer.inbound_nodes:
            if id(node) not in own or node.is_input:
                continue
            kwargs = {}
            if not any(k != "mask" or not node.auto_mask for k in node.tensor_kwargs):
                kwargs.update(getattr(layer, "keras_call_kwargs", {}))
            kwargs.update(node.kwargs)
            args = [map_tensors(node.x, tensor)]
            for key in getattr(layer, "positional", ()):   # Keras ops: x, then these
                args.append(kwargs.pop(key))
            nodes.append({"args": args, "kwargs": map_tensors(kwargs, tensor)})
        entry["inbound_nodes"] = nodes
        layers.append(entry)
    return {"name": model.name, "trainable": model.trainable, "layers": layers,
            "input_layers": map_tensors(model.input, triple),
            "output_layers": map_tensors(model.output, triple)}


def _is_tensor_config(obj: Any) -> bool:
    return isinstance(obj, dict) and obj.get("class_name") == "__keras_tensor__"


def functional_from_config(config: dict[str, Any]) -> Any:
    """Rebuild a Functional model: create every layer from the registry, then replay the
    recorded calls until each node's inputs exist (Keras's order-independent loop)."""
    from .config import deserialize_layer
    from .functional import Functional

    if not isinstance(config, dict) or not isinstance(config.get("layers"), list):
        raise ConfigError("A Functional config must be a dict with a 'layers' list.")
    for key in ("input_layers", "output_layers"):
        if key not in config:
            raise ConfigError(f"The Functional config has no {key!r}.")
    created: dict[str, Any] = {}
    pending: dict[str, list[Any]] = {}
    order: list[str] = []
    for data in config["layers"]:
        if not isinstance(data, dict) or "name" not in data:
            raise ConfigError(f"Each layer of a Functional config needs a 'name', got {data!r:.200}.")
        layer = deserialize_layer(data)
        name = data["name"]
        created[name] = layer
        order.append(name)
        pending[name] = list(data.get("inbound_nodes") or [])

    class NotYet(Exception):
        pass

    def find(name: str, node_index: int, tensor_index: int) -> SymbolicTensor:
        if name not in created:
            raise ConfigError(f"The Functional config refers to an unknown layer {name!r}.")
        nodes = created[name].inbound_nodes
        if node_index >= len(nodes):
            raise NotYet()
        return nodes[node_index].outputs[tensor_index]

    def revive(obj: Any) -> Any:
        if _is_tensor_config(obj):
            return find(*obj["config"]["keras_history"])
        if isinstance(obj, list):
            return [revive(v) for v in obj]
        if isinstance(obj, dict):
            return {k: revive(v) for k, v in obj.items()}
        return obj

    while any(pending.values()):
        progressed = False
        for name in order:
            while pending[name]:
                node = pending[name][0]
                try:
                    if isinstance(node, list):   # Keras 2's [[name, node, tensor, kwargs], ...]
                        tensors = [find(*item[:3]) for item in node]
                        args, kwargs = [tensors[0] if len(tensors) == 1 else tensors], \
                            (node[0][3] if node and len(node[0]) > 3 else {})
                    else:
                        args, kwargs = revive(node.get("args", [])), revive(node.get("kwargs", {}))
                except NotYet:
                    break
                extra = getattr(created[name], "positional", ())
                if len(args) < 1 or len(args) > 1 + len(extra):
                    raise ConfigError(f"Layer {name!r}: unrolled replays calls with one positional "
                                      f"argument, the config has {len(args)}.")
                kwargs = {**dict(zip(extra, args[1:])), **kwargs}
                created[name](args[0], **kwargs)
                pending[name].pop(0)
                progressed = True
        if not progressed:
            stuck = {k: len(v) for k, v in pending.items() if v}
            raise ConfigError(f"Invalid Functional config: the graph has loops or disconnected "
                              f"nodes; unresolved calls per layer: {stuck}.")

    def triple(obj: Any) -> Any:
        if isinstance(obj, list) and len(obj) == 3 and isinstance(obj[0], str):
            name, node_index, tensor_index = obj
            if isinstance(created.get(name), Functional):
                node_index -= 1
            try:
                return find(name, node_index, tensor_index)
            except NotYet:
                raise ConfigError(f"The Functional config's inputs/outputs refer to call "
                                  f"{node_index} of layer {name!r}, which does not exist.") from None
        if isinstance(obj, dict):
            return {k: triple(v) for k, v in obj.items()}
        if isinstance(obj, (list, tuple)):
            return [triple(v) for v in obj]
        raise ConfigError(f"Bad input_layers/output_layers entry {obj!r:.200}.")

    return Functional(triple(copy.deepcopy(config["input_layers"])),
                      triple(copy.deepcopy(config["output_layers"])),
                      name=config.get("name"), trainable=config.get("trainable", True))
