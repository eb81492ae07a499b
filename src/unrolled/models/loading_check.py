"""Everything that keeps a model config from loading, found in one walk, before anything
is built -- so that a refusal lists every blocker at once.

Three kinds, because the user can do different things about each:

* *not implemented yet*: a built-in Keras layer, option or model kind unrolled does not
  have yet (a missing feature; the model is fine);
* *refused on purpose*: ``Lambda``, custom or registered classes, anything that would run
  code from the file -- loading never executes code;
* *invalid*: values no Keras would have written (a broken or hand-edited file).
"""
from __future__ import annotations

from typing import Any, Callable, NamedTuple

from ..errors import ConfigError, ModelFileError
from ..io.keras_builtins import kind_of

NOT_YET, REFUSED, INVALID = "not implemented yet", "refused on purpose", "invalid"


class Blocker(NamedTuple):
    kind: str     # NOT_YET, REFUSED or INVALID
    where: str    # "layer 'lstm' (LSTM)"
    what: str


def _is_foreign(obj: dict[str, Any]) -> bool:
    """A serialized object that is not a Keras built-in (custom class or function)."""
    module, registered = obj.get("module"), obj.get("registered_name")
    if isinstance(module, str) and not (module == "keras" or module.startswith("keras.")):
        return True
    return registered is not None and registered != obj.get("class_name")


def _foreign_objects(obj: Any, found: list[str]) -> None:
    if isinstance(obj, dict):
        if "class_name" in obj and _is_foreign(obj):
            found.append(f"{obj.get('class_name')!r} (module {obj.get('module')!r}, "
                         f"registered as {obj.get('registered_name')!r})")
        for value in obj.values():
            _foreign_objects(value, found)
    elif isinstance(obj, list):
        for value in obj:
            _foreign_objects(value, found)


def find_blockers(config: Any, layer_classes: dict[str, Any],
                  model_kinds: dict[str, Callable[..., Any] | None]) -> list[Blocker]:
    """Every reason ``config`` (a model's ``{"class_name", "config"}``) cannot be built.

    ``layer_classes`` maps the layer class names unrolled can build to their classes (each
    layer is constructed from its config once, so its own option checks are collected);
    ``model_kinds`` maps model class names to their builder, or None when that kind is
    not available yet.
    """
    blockers: list[Blocker] = []
    _check_model(config, "the model", layer_classes, model_kinds, blockers)
    return list(dict.fromkeys(blockers))


def _class_name(item: Any, where: str, out: list[Blocker], config_required: bool,
                not_serialized: str) -> str | None:
    """The ``class_name`` of a serialized object ``{"class_name": str, "config": dict}``
    (``config`` may be absent unless ``config_required``), or None after recording an
    INVALID blocker: ``not_serialized`` when it is no such object."""
    config = item.get("config", None if config_required else {}) if isinstance(item, dict) else None
    if not isinstance(config, dict):
        out.append(Blocker(INVALID, where, not_serialized))
        return None
    kind = item.get("class_name")
    if not isinstance(kind, str):
        out.append(Blocker(INVALID, where, f"its class_name {kind!r:.80} is not a string"))
        return None
    return kind


def _check_model(config: Any, where: str, layer_classes: dict[str, Any],
                 model_kinds: dict[str, Any], out: list[Blocker]) -> None:
    kind = _class_name(config, where, out, True, "does not hold a serialized model "
                                                 "({'class_name': ..., 'config': {...}})")
    if kind is None:
        return
    name = config["config"].get("name")
    where = f"{where} {name!r:.80} ({kind})" if name else f"{where} ({kind})"
    registered = config.get("registered_name")
    if kind not in model_kinds or registered not in (None, kind):
        out.append(Blocker(REFUSED, where, f"is a subclassed or custom model (class {kind!r}, "
                                           f"registered as {registered!r}); its code is not in "
                                           "the file and unrolled never runs code from files"))
        return
    if model_kinds[kind] is None:
        out.append(Blocker(NOT_YET, where, f"{kind} models are not available in this "
                                           "version of unrolled"))
    layers = config["config"].get("layers")
    if not isinstance(layers, list):
        out.append(Blocker(INVALID, where, "has no 'layers' list"))
        return
    for k, item in enumerate(layers):
        _check_layer(item, f"{where}, layer {k}", layer_classes, model_kinds, out)


def _check_layer(item: Any, where: str, layer_classes: dict[str, Any],
                 model_kinds: dict[str, Any], out: list[Blocker]) -> None:
    kind = _class_name(item, where, out, False, "is not a layer config (a JSON object with "
                                                "'class_name' and 'config')")
    if kind is None:
        return
    config = item.get("config") or {}
    name = config.get("name")
    label = f"layer {name!r:.80} ({kind})" if name else f"{where} ({kind})"
    if kind_of(kind) == "model":
        _check_model(item, "nested model", layer_classes, model_kinds, out)
        return
    foreign: list[str] = []
    _foreign_objects(item, foreign)
    if foreign:
        out.append(Blocker(REFUSED, label, "uses custom objects: " + ", ".join(
            dict.fromkeys(foreign)) + "; their code is not in the file"))
        return
    if kind in layer_classes:
        try:
            layer_classes[kind].from_config(dict(config))
        except ConfigError as err:
            text = str(err)
            out.append(Blocker(NOT_YET if "not supported" in text or "yet" in text
                               else INVALID, label, text))
        except (TypeError, ValueError, KeyError, AttributeError) as err:
            out.append(Blocker(INVALID, label, f"{type(err).__name__}: {err}"))
        for key in ("layer", "backward_layer"):       # wrappers: check the inner layer too
            if isinstance(config.get(key), dict):
                _check_layer(config[key], f"{label}.{key}", layer_classes, model_kinds, out)
        return
    category = kind_of(kind)
    module = item.get("module")
    if isinstance(module, str) and module.startswith("keras.src.ops"):
        out.append(Blocker(NOT_YET, label, f"the Keras operation {kind} ({module}) is not "
                                           "replayed by unrolled yet"))
    elif category == "builtin":
        out.append(Blocker(NOT_YET, label, f"Keras's {kind} layer is not implemented in "
                                           "unrolled yet"))
    elif category == "code":
        out.append(Blocker(REFUSED, label, f"{kind} layers run code from the file"))
    else:
        out.append(Blocker(REFUSED, label, f"{kind!r} is not a Keras layer (a custom or "
                                           "registered class); its code is not in the file"))


def refusal(path: str, blockers: list[Blocker], supported: list[str]) -> ModelFileError:
    """One :class:`ModelFileError` listing every blocker, grouped by kind, with what to do."""
    lines = [f"{path} cannot be loaded by unrolled:"]
    advice = {
        NOT_YET: "These are Keras features unrolled does not have yet. Supported layers: "
                 + ", ".join(supported) + ". Rebuild the model from those, or ask for the "
                 "feature (issues welcome).",
        REFUSED: "Loading never executes code from a file, so these stay refused. "
                 "Rebuild the model with built-in layers (replace a Lambda by a layer that "
                 "does the same), then load only its weights with model.load_weights(path).",
        INVALID: "These values are not what Keras writes: the file is damaged or was edited.",
    }
    for kind in (NOT_YET, REFUSED, INVALID):
        items = [b for b in blockers if b.kind == kind]
        if items:
            lines.append(f"{kind}:")
            lines += [f"  • {b.where}: {b.what}" for b in items]
            lines.append(f"  {advice[kind]}")
    return ModelFileError("\n".join(lines))
