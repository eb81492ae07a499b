"""Hypothesis strategies that damage a file the ways the issue's probes did: truncation,
bit flips and overwritten ranges anywhere (zip headers, HDF5 metadata, data), and, inside
a ``.keras`` zip, members rewritten with a valid CRC: JSON values replaced by odd ones,
the HDF5 member flipped or truncated."""
from __future__ import annotations

import io
import json
import zipfile
from typing import Any

from hypothesis import strategies as st

ODD_VALUES = st.one_of(
    st.none(), st.booleans(),
    st.integers(min_value=-2 ** 70, max_value=2 ** 70),
    st.sampled_from([0, -1, 2 ** 31, 10 ** 6, 10 ** 9, 10 ** 12, 1e300, float("nan"),
                     float("inf")]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=8), st.lists(st.integers(-3, 10 ** 7), max_size=4),
    st.dictionaries(st.text(max_size=4), st.integers(), max_size=2),
)


def _paths(obj: Any, prefix: tuple = ()) -> list[tuple]:
    """Every position inside a JSON document (dict keys and list indexes)."""
    out = [prefix]
    if isinstance(obj, dict):
        for k, v in obj.items():
            out += _paths(v, prefix + (k,))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            out += _paths(v, prefix + (i,))
    return out


def _set(obj: Any, path: tuple, value: Any, delete: bool) -> Any:
    if not path:
        return value
    parent = obj
    for key in path[:-1]:
        parent = parent[key]
    if delete:
        del parent[path[-1]]
    else:
        parent[path[-1]] = value
    return obj


def _zip_members(data: bytes) -> dict[str, bytes] | None:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            return {n: zf.read(n) for n in zf.namelist()}
    except zipfile.BadZipFile:
        return None


def _zip(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for name, value in members.items():
            zf.writestr(name, value)
    return buffer.getvalue()


@st.composite
def byte_damage(draw, data: bytes) -> bytes:
    """Truncate, flip bits or overwrite a range, anywhere in ``data``."""
    kind = draw(st.sampled_from(["truncate", "flip", "overwrite", "zero_range"]))
    n = len(data)
    if kind == "truncate":
        return data[:draw(st.integers(0, max(n - 1, 0)))]
    out = bytearray(data)
    if kind == "flip":
        for _ in range(draw(st.integers(1, 8))):
            pos = draw(st.integers(0, n - 1))
            out[pos] ^= 1 << draw(st.integers(0, 7))
        return bytes(out)
    start = draw(st.integers(0, n - 1))
    size = draw(st.integers(1, 64))
    fill = (draw(st.binary(min_size=size, max_size=size)) if kind == "overwrite"
            else b"\xff" * size)
    out[start:start + size] = fill
    return bytes(out[:n])


@st.composite
def json_damage(draw, raw: bytes) -> bytes:
    """One JSON value replaced (or deleted) somewhere in the document."""
    doc = json.loads(raw)
    path = draw(st.sampled_from(_paths(doc)))
    delete = bool(path) and draw(st.booleans())
    doc = _set(doc, path, draw(ODD_VALUES), delete)
    return json.dumps(doc).encode()


@st.composite
def mutated(draw, data: bytes) -> bytes:
    """A damaged copy of ``data`` (a zip's members are damaged with a valid CRC too)."""
    members = _zip_members(data)
    if members is None or draw(st.integers(0, 3)) == 0:
        return draw(byte_damage(data))
    name = draw(st.sampled_from(sorted(members)))
    if name.endswith(".json"):
        members[name] = draw(json_damage(members[name]))
    else:
        members[name] = draw(byte_damage(members[name]))
    return _zip(members)
