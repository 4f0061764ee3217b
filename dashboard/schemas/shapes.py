"""The shape of an event's ``detail`` and the versions built from shapes (pure: no Django).

A **path** is a JSON Pointer into ``detail`` (RFC 6901: ``~`` is written ``~0`` and ``/`` ``~1`` in a
key), with ``*`` standing for the items of an array: ``/items/*/sku``. ``""`` is ``detail`` itself.
An object key that is literally ``*`` shares its path with array items (the schema describes both).

A **shape** is what one event shows: its ``(path, JSON type)`` pairs, and the paths it has that count
for ``required`` (object members not inside an array: an array may be empty, so nothing below its
items is required). Types are JSON Schema's names: ``object``, ``array``, ``string``, ``integer``,
``number``, ``boolean``, ``null``; a number with no fraction (``3`` or ``3.0``) is an ``integer``,
as JSON Schema says; a path seen as both is a ``number`` (which includes the integers).

A **definition** is a version: the pairs seen, the paths present in every event of it, and whether
it was truncated. Versions only grow (pairs are added, required paths dropped), so an event that fits
a version fits every later one of the same type.

Bounds: at most ``MAX_PATHS`` paths a version and a shape, ``MAX_DEPTH`` levels, keys of at most
``MAX_KEY`` characters. What lies past them is not described (the schema leaves it open, so it still
validates every event) and the version says it is ``truncated``. The walk still visits every value
of an event (ingest already parsed all of it), but never keeps more than the bounds.
"""

from __future__ import annotations

from collections.abc import Container
from dataclasses import dataclass, field
from typing import Any, NamedTuple

MAX_PATHS = 1000
MAX_DEPTH = 32
MAX_KEY = 256
ITEMS = "*"

_TYPE_NAMES: dict[type, str] = {
    dict: "object",
    list: "array",
    str: "string",
    int: "integer",
    float: "number",
    bool: "boolean",
    type(None): "null",
}
_CONTAINERS = ("object", "array")


class Shape(NamedTuple):  # one per event: a tuple is the cheapest record to make
    pairs: frozenset[tuple[str, str]]
    present: frozenset[str]
    truncated: bool = False


@dataclass(frozen=True, slots=True)
class Definition:
    """A version's content. ``types`` maps each path to its type names (derived from ``pairs``)."""

    pairs: frozenset[tuple[str, str]]
    required: frozenset[str]
    truncated: bool = False
    types: dict[str, frozenset[str]] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        if not self.types and self.pairs:
            grouped: dict[str, set[str]] = {}
            for path, kind in self.pairs:
                grouped.setdefault(path, set()).add(kind)
            object.__setattr__(self, "types", {path: frozenset(kinds) for path, kinds in grouped.items()})

    @classmethod
    def from_json(cls, types: dict[str, list[str]], required: list[str], truncated: bool) -> Definition:
        """A definition as stored (``SchemaVersion.types``, ``.required``, ``.truncated``)."""
        pairs = frozenset((path, kind) for path, kinds in types.items() for kind in kinds)
        return cls(pairs, frozenset(required), truncated)

    def types_json(self) -> dict[str, list[str]]:
        return {path: sorted(self.types[path]) for path in sorted(self.types, key=path_order)}

    def required_json(self) -> list[str]:
        return sorted(self.required, key=path_order)


def escape_key(key: str) -> str:
    return key.replace("~", "~0").replace("/", "~1")


def unescape_key(segment: str) -> str:
    return segment.replace("~1", "/").replace("~0", "~")


def path_order(path: str) -> tuple[int, str]:
    """Shallow paths first, then by name: parents always come before their children."""
    return path.count("/"), path


def type_of(value: Any) -> str:
    kind = _TYPE_NAMES.get(type(value), "string")
    if kind == "number" and value.is_integer():
        return "integer"
    return kind


# Shapes already taken, by the fingerprint of their detail: most events of a type have one of a few
# structures, and a fingerprint costs less than half of a walk. Bounded; only small details.
_MEMO_SIZE, _MEMO_DEPTH, _MEMO_WIDTH = 4096, 8, 64
_memo: dict[Any, Shape] = {}
_NESTED = (dict, list)


class _TooBig(Exception):
    pass


def _fingerprint(value: Any, depth: int = 0) -> Any:
    """What the shape of ``value`` depends on and nothing else: its keys, and each value's type (for
    a float, whether it is whole), nested containers alike. Raises _TooBig past the memo's bounds."""
    if depth > _MEMO_DEPTH or len(value) > _MEMO_WIDTH:
        raise _TooBig
    depth += 1
    values = value.values() if type(value) is dict else value
    described = tuple(
        [
            _fingerprint(x, depth) if type(x) in _NESTED else (x.is_integer() if type(x) is float else type(x))
            for x in values
        ]
    )
    # Tagged by the container's class, so that no two structures share a fingerprint ({} and [[], []]).
    return (dict, tuple(value), described) if type(value) is dict else (list, described)


def shape_of(detail: Any, known: Container[str] = ()) -> Shape:
    """The shape of ``detail``. Paths in ``known`` (the current version's) are always followed, so
    that a version's paths are checked however many new keys an event brings before them."""
    if type(detail) not in _NESTED:
        return _walk(detail, known)
    try:
        key = _fingerprint(detail)
    except _TooBig:
        return _walk(detail, known)
    shape = _memo.get(key)
    if shape is None:
        shape = _walk(detail, known)
        if not shape.truncated:  # else ``known`` may have mattered
            if len(_memo) >= _MEMO_SIZE:
                _memo.clear()
            _memo[key] = shape
    return shape


def _walk(detail: Any, known: Container[str]) -> Shape:
    """The shape of ``detail``, walked. It runs for every event whose shape is not memoised, so
    scalars are handled where they are met and only non-empty containers go on the stack."""
    names = _TYPE_NAMES
    kind = names.get(type(detail), "string")
    if kind == "number" and detail.is_integer():
        kind = "integer"
    pairs: set[tuple[str, str]] = {("", kind)}
    present: set[str] = {""}
    if kind not in _CONTAINERS or not detail:
        return Shape(frozenset(pairs), frozenset(present))
    add, mark = pairs.add, present.add
    # The width bound counts paths, as a version's does (``next_version``, ``fits``): a shape cut at
    # that many pairs held fewer paths, and a later version, not full, could then describe a path the
    # cut had dropped with another type, which the event no longer fitted.
    paths: set[str] = {""}
    keep = paths.add
    truncated = False
    stack: list[tuple[str, Any, int, bool]] = [("", detail, 0, True)]
    pop, push = stack.pop, stack.append
    while stack:
        path, value, depth, top = pop()
        if depth >= MAX_DEPTH:
            truncated = True
            continue
        depth += 1
        if type(value) is dict:
            for key, child in value.items():
                if "~" in key or "/" in key:
                    key = escape_key(key)
                sub = path + "/" + key
                if (len(key) > MAX_KEY or (len(paths) >= MAX_PATHS and sub not in paths)) and sub not in known:
                    truncated = True
                    continue
                keep(sub)
                kind = names.get(type(child), "string")
                if kind == "number" and child.is_integer():
                    kind = "integer"
                add((sub, kind))
                if top:
                    mark(sub)
                if (kind == "object" or kind == "array") and child:
                    push((sub, child, depth, top))
        else:
            sub = path + "/" + ITEMS
            if len(paths) >= MAX_PATHS and sub not in paths and sub not in known:
                truncated = True
                continue
            keep(sub)
            for item in value:
                kind = names.get(type(item), "string")
                if kind == "number" and item.is_integer():
                    kind = "integer"
                add((sub, kind))
                if (kind == "object" or kind == "array") and item:
                    push((sub, item, depth, False))
    return Shape(frozenset(pairs), frozenset(present), truncated)


def _widened(pairs: frozenset[tuple[str, str]]) -> frozenset[tuple[str, str]]:
    """``pairs`` without an ``integer`` where the same path is a ``number`` (which includes it), so
    that a version does not depend on which of the two arrived first."""
    numbers = {path for path, kind in pairs if kind == "number"}
    if not numbers:
        return pairs
    return frozenset(pair for pair in pairs if not (pair[1] == "integer" and pair[0] in numbers))


def _new_pairs(definition: Definition, shape: Shape) -> list[tuple[str, str]]:
    """The pairs of ``shape`` that ``definition`` lacks, an integer where a number is allowed aside."""
    extra = shape.pairs - definition.pairs
    if not extra:
        return []
    types = definition.types
    return [(path, kind) for path, kind in extra if not (kind == "integer" and "number" in types.get(path, ()))]


def fits(definition: Definition, shape: Shape) -> bool:
    """Does an event of ``shape`` count towards ``definition``? Its pairs are among the version's
    (an integer fits a number; a new path fits a version truncated at ``MAX_PATHS``, which has no
    room for it), and it has every required path. A version truncated by depth or a long key still
    has room: a new path there starts a version, as anywhere (a shape never holds paths past those
    bounds)."""
    if not shape.pairs <= definition.pairs:
        full = definition.truncated and len(definition.types) >= MAX_PATHS
        for path, _ in _new_pairs(definition, shape):
            if path in definition.types or not full:
                return False
    return definition.required <= shape.present


def violations(definition: Definition, shape: Shape) -> list[str]:
    """Why an event of ``shape`` does not validate against ``definition``'s JSON Schema (empty when
    it does): a described path of another type, or a required path missing. New paths are allowed,
    as the schema allows members it does not describe."""
    problems = []
    types = definition.types
    for path, kind in sorted(_new_pairs(definition, shape), key=lambda pair: path_order(pair[0])):
        if path in types:
            problems.append(f"{path or '/'}: {kind}, expected {' or '.join(sorted(types[path]))}")
    for path in sorted(definition.required - shape.present, key=path_order):
        problems.append(f"{path}: required, missing")
    return problems


@dataclass(frozen=True, slots=True)
class Change:
    kind: str  # initial | compatible | breaking
    added: list[str]
    removed: list[str]
    type_changed: list[dict[str, str]]

    def as_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "added": self.added, "removed": self.removed, "type_changed": self.type_changed}


def next_version(previous: Definition | None, shape: Shape) -> tuple[Definition, Change]:
    """The version that begins with an event of ``shape`` that does not fit ``previous`` (the type's
    latest version, None for its first event), and what changed.

    The new version keeps what the previous one described and adds what the event brought; its
    required paths are those of the previous one that the event has. ``added``: paths new to the
    type (compatible); ``removed``: required paths the event lacks (breaking); ``type_changed``: a
    described path seen with a new type (breaking, except integer -> number).
    """
    if previous is None:
        return Definition(_widened(shape.pairs), shape.present, shape.truncated), Change("initial", [], [], [])
    new_pairs = _new_pairs(previous, shape)
    old_types = previous.types
    added_paths = sorted({path for path, _ in new_pairs if path not in old_types}, key=path_order)
    changed: dict[str, set[str]] = {}
    for path, kind in new_pairs:
        if path in old_types:
            changed.setdefault(path, set()).add(kind)
    truncated = previous.truncated or shape.truncated
    room = MAX_PATHS - len(old_types)
    if len(added_paths) > room:
        # Shallow paths first, so that whatever is kept has its parents described too.
        added_paths, truncated = added_paths[: max(room, 0)], True
    kept = set(old_types).union(added_paths)
    pairs = _widened(previous.pairs.union(pair for pair in new_pairs if pair[0] in kept))
    required = previous.required & shape.present
    removed = sorted(previous.required - shape.present, key=path_order)
    type_changed = [
        {"path": path, "from": "|".join(sorted(old_types[path])), "to": "|".join(sorted(kinds))}
        for path, kinds in sorted(changed.items(), key=lambda item: path_order(item[0]))
    ]
    breaking = bool(removed) or any(
        not (entry["to"] == "number" and "integer" in old_types[entry["path"]]) for entry in type_changed
    )
    kind = "breaking" if breaking else "compatible"
    return Definition(pairs, required, truncated), Change(kind, added_paths, removed, type_changed)
