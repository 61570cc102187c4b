"""Request field names in lowerCamelCase, as Nakama's gateway accepts them.

Nakama's REST gateway (grpc-gateway, protojson) reads a request field by its proto name
(`display_name`) or by its JSON name (`displayName`, protoc's lowerCamelCase of it), in bodies and
in query parameters; responses use the proto names only. Overworld's messages are msgspec Structs
whose encoded names are the proto names, and msgspec knows one name per field, so the JSON names
are mapped back to the proto names before a body is converted:

- `Renamer.of(kind)` walks a Struct's type once (its fields, and the Structs inside lists, dicts,
  unions and optional fields) and builds one renaming function per Struct with a field whose JSON
  name differs; it is None when nothing in the type can differ (`{"id", "vars"}`), so such a body
  costs nothing more.
- The renaming is guided by the type: free-form maps (`vars`, `properties`, a storage value) keep
  their keys. A field given under both names is refused, as protojson refuses it.
- `decode(body, kind)` decodes JSON bytes: a body that has none of the type's JSON names is
  decoded straight into the Struct as before. Telling costs one `bytes.islower()` (a JSON name has
  an upper-case letter) and, only for bodies with upper-case letters, a regular-expression search.
- `query_names(kinds)`: proto name by JSON name, for query parameters (flat field names).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any

import msgspec
from msgspec import inspect

from overworld.errors import InvalidArgument

Rename = Callable[[Any], Any]


def json_name(proto_name: str) -> str:
    """protoc's JSON name of a field: underscores dropped, the lower-case letter after one
    upper-cased (`display_name` -> `displayName`, `owner_ids` -> `ownerIds`)."""
    out: list[str] = []
    after_underscore = False
    for char in proto_name:
        if char != "_":
            out.append(char.upper() if after_underscore and "a" <= char <= "z" else char)
        after_underscore = char == "_"
    return "".join(out)


class Renamer:
    """How to map a type's JSON names back to its proto names (see the module's docstring)."""

    _cache: dict[Any, Renamer] = {}

    def __init__(self, rename: Rename | None, names: frozenset[str]) -> None:
        self.rename = rename  # None: nothing in the type has a JSON name of its own
        self.names = names  # every JSON name that differs, anywhere in the type
        self.pattern = re.compile(b'"(?:' + b"|".join(re.escape(n.encode()) for n in sorted(names)) + b')"')
        self.caseless = any(n == n.lower() for n in names)  # `foo_2` -> `foo2`: no upper-case letter

    @classmethod
    def of(cls, kind: Any) -> Renamer:
        found = cls._cache.get(kind)
        if found is None:
            names: set[str] = set()
            rename = _build(inspect.type_info(kind), names, {})
            found = cls._cache[kind] = Renamer(rename, frozenset(names))
        return found

    def might_have_names(self, body: bytes) -> bool:
        """Whether `body` may hold one of the type's JSON names (False: it surely does not)."""
        if self.rename is None or (body.islower() and not self.caseless):
            return False
        return self.pattern.search(body) is not None

    def decode(self, body: bytes, kind: type[Any]) -> Any:
        """JSON bytes into `kind` (protojson-like: numbers as strings accepted), JSON names too."""
        rename = self.rename
        if rename is None or not self.might_have_names(body):
            return msgspec.json.decode(body, type=kind, strict=False)
        return msgspec.convert(rename(msgspec.json.decode(body)), kind, strict=False)


def _build(info: inspect.Type, names: set[str], seen: Seen) -> Rename | None:
    """The renaming function of values of this type, None if no value of it needs one."""
    if isinstance(info, inspect.StructType):
        return _struct(info, names, seen)
    if isinstance(info, inspect.ListType | inspect.SetType | inspect.FrozenSetType | inspect.VarTupleType):
        item = _build(info.item_type, names, seen)
        return None if item is None else _each(item)
    if isinstance(info, inspect.DictType):
        value = _build(info.value_type, names, seen)
        return None if value is None else _each_value(value)
    if isinstance(info, inspect.UnionType):
        structs = [t for t in info.types if not isinstance(t, inspect.NoneType)]
        if len(structs) == 1:  # Optional[X]
            return _build(structs[0], names, seen)
        return None  # unions of several object types do not occur in requests
    if isinstance(info, inspect.Metadata):
        return _build(info.type, names, seen)
    return None


Seen = dict[type, list[Rename | None]]  # the Structs being built, for recursive types


def _struct(info: inspect.StructType, names: set[str], seen: Seen) -> Rename | None:
    cls = info.cls
    if cls in seen:  # a recursive type: late-bound through the cell being built
        late = seen[cls]
        return lambda value: late[0](value) if late[0] is not None else value
    cell: list[Rename | None] = [None]
    seen[cls] = cell
    renames: dict[str, str] = {}
    nested: list[tuple[str, Rename]] = []
    for field in info.fields:
        proto = field.encode_name
        camel = json_name(proto)
        if camel != proto:
            renames[camel] = proto
            names.add(camel)
        inner = _build(field.type, names, seen)
        if inner is not None:
            nested.append((proto, inner))
    if not renames and not nested:
        return None
    rename = _object(renames, tuple(nested))
    cell[0] = rename
    return rename


def _object(renames: dict[str, str], nested: tuple[tuple[str, Rename], ...]) -> Rename:
    def rename(value: Any) -> Any:
        if not isinstance(value, dict):
            return value  # the conversion reports the wrong type
        out = value
        if renames and any(key in renames for key in value):
            out = {}
            for key, item in value.items():
                proto = renames.get(key, key)
                if proto in out:
                    raise InvalidArgument(f"Invalid request: duplicate field {proto!r}")
                out[proto] = item
        for proto, inner in nested:
            if proto in out:
                if out is value:
                    out = dict(value)
                out[proto] = inner(out[proto])
        return out

    return rename


def _each(item: Rename) -> Rename:
    return lambda value: [item(v) for v in value] if isinstance(value, list) else value


def _each_value(inner: Rename) -> Rename:
    return lambda value: {k: inner(v) for k, v in value.items()} if isinstance(value, dict) else value


def query_names(kinds: Iterable[Any]) -> dict[str, str]:
    """Proto name by JSON name of the top-level fields of these Structs (query parameters)."""
    found: dict[str, str] = {}
    for kind in kinds:
        info = inspect.type_info(kind)
        if isinstance(info, inspect.StructType):
            for field in info.fields:
                camel = json_name(field.encode_name)
                if camel != field.encode_name:
                    found[camel] = field.encode_name
    return found
