"""Amazon EventBridge event-pattern engine.

Every filter in the product (live tail, ``pattern=`` queries, consumers, replays, lifecycles) is an
EventBridge event pattern matched against an EventBridge-shaped envelope. This module validates a
pattern once, compiles it into a tree of closures and then evaluates events against it without
re-reading the pattern JSON. It is pure Python and imports nothing from Django.

Semantics follow EventBridge (its ``TestEventPattern`` answer is the reference):

* A pattern is a non-empty JSON object. Fields are ANDed; the values listed for a field are ORed.
  Values live only on leaves and are always listed (``{"source": ["aws.ec2"]}``); a scalar where a
  list or object belongs is an error, as is an empty list or an empty object.
* Literal values: strings, numbers (compared by value, so ``5`` matches ``5.0`` and ``3.018e2``
  matches ``301.8``), ``true``/``false``, ``null``. ``null`` and ``""`` are different values.
* Operators: ``prefix``, ``suffix`` (both also as ``{"equals-ignore-case": ...}``),
  ``equals-ignore-case``, ``wildcard``, ``anything-but`` (value, list, ``prefix``, ``suffix``,
  ``equals-ignore-case``, ``wildcard``), ``numeric``, ``exists``, ``cidr`` and ``$or`` at any level.
* Event arrays: a leaf matches when any element matches. A pattern object under an event array of
  objects is matched element by element, so two fields only match together when they come from the
  same element (EventBridge's array-consistent matching).
* ``exists`` looks at leaves only: ``exists: false`` matches a missing field, an empty array and a
  field holding an object; ``exists: true`` matches any leaf value, ``null`` included.
* ``anything-but`` needs the field to be present; it matches any present leaf value (of any type,
  ``null`` included) that the excluded values do not cover.
* Numbers are compared with six decimal places of precision; bounds and ``anything-but`` numbers in
  a pattern must lie within -5e9..5e9.
* ``cidr`` covers the addresses from the one written up to the last address of its block
  (IPv4 masks 0-31, IPv6 0-127), and a literal IP address string matches any spelling of that
  address, as in EventBridge.
* EventBridge joins nested keys with dots, so ``{"a": {"b": [1]}}``, ``{"a.b": [1]}`` and an event
  key ``"a.b"`` all address the same field. (When an event spells one path both ways, the nested
  object is used.)

``compile_pattern(None)`` raises :class:`PatternError`: callers that store "no pattern" as ``None``
treat it as "match everything" before reaching this module.

Bounded work: a pattern that is taken (``compile_pattern``, ``matches``) must stay within
:data:`MAX_PATTERN_SIZE` characters of compact JSON, :data:`MAX_VALUES` listed values,
:data:`MAX_ALTERNATIVES` ``$or`` alternatives and :data:`MAX_DEPTH` levels of objects. These are
checked by a walk that stops at the first limit passed, before anything is compiled, so a pattern of
any size is refused after reading about ``MAX_PATTERN_SIZE`` characters' worth of it. Nothing here
recurses on an event: any event a JSON parser returns either matches or does not.
"""

from __future__ import annotations

import functools
import ipaddress
import json
import math
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Final

import orjson

from dashboard.core.errors import Problem
from dashboard.core.nul import text_holds_nul

__all__ = [
    "MAX_ALTERNATIVES",
    "MAX_DEPTH",
    "MAX_PATTERN_SIZE",
    "MAX_VALUES",
    "TOO_DEEP",
    "TOO_DEEP_BODY",
    "CompiledPattern",
    "Mismatch",
    "PatternError",
    "check_limits",
    "compile_pattern",
    "explain_mismatch",
    "json_too_deep",
    "matches",
]

# A predicate over one event value (a scalar, a list, a mapping or _MISSING).
_ValuePred = Callable[[Any], bool]
# A predicate over the mapping found at one pattern object's position.
_ObjectPred = Callable[[Mapping[str, Any]], bool]
_StrPred = Callable[[str], bool]
_NumPred = Callable[[float], bool]

_MISSING: Final = object()

# EventBridge only compares numbers inside this range; pattern bounds outside it are rejected.
_NUMERIC_LIMIT: Final = 5e9
_MICROS: Final = 1_000_000

_OPERATORS: Final = frozenset(
    {"anything-but", "cidr", "equals-ignore-case", "exists", "numeric", "prefix", "suffix", "wildcard"}
)
_NUMERIC_OPERATORS: Final = frozenset({"=", "<", "<=", ">", ">="})
# Inside $or the engine refuses operator names as field names, to keep the two readings apart.
_RESERVED_IN_OR: Final = _OPERATORS | _NUMERIC_OPERATORS | {"exactly"}

# The address syntaxes EventBridge recognises before it tries to parse an IP address.
_IPV4_RE: Final = re.compile(r"[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+")
_IPV6_RE: Final = re.compile(r"[0-9a-fA-F:]*:[0-9a-fA-F:]*")
_MASK_RE: Final = re.compile(r"[+-]?[0-9]{1,9}")  # bounded: int() refuses very long digit strings

_CACHE_SIZE: Final = 256

# Limits on one pattern (docs/patterns.md). EventBridge's quota on a pattern's size is 2,048
# characters by default and 4,096 at most; the same 4,096 here, counted on compact JSON (so
# whitespace is free). Compiling costs about a microsecond per character and matching grows with
# the number of values and alternatives, so these bound the work one request can ask for.
MAX_PATTERN_SIZE: Final = 4096
MAX_VALUES: Final = 1000
MAX_ALTERNATIVES: Final = 100
# Pattern objects nested deeper than this are refused: compiling and matching recurse once per level.
MAX_DEPTH: Final = 32
# The walk's coarse guard on JSON nesting: no valid pattern nests its objects and arrays deeper (a
# pattern object is at most two levels below its parent, via "$or", and a leaf adds at most four).
_MAX_NESTING: Final = 2 * (MAX_DEPTH + 2)
# Pattern text longer than this is refused before it is parsed (whitespace allowance included).
_MAX_TEXT: Final = 16 * MAX_PATTERN_SIZE
TOO_DEEP: Final = f"the pattern is too deep: objects are nested more than {MAX_DEPTH} levels deep"
# The answer to a JSON body past the parser's depth (orjson reads 1,024 levels), which is most
# often a pattern nested far too deep: "too deep", not "not valid JSON".
TOO_DEEP_BODY: Final = (
    "The body is too deep: JSON is read up to 1,024 levels of objects and arrays,"
    f" and a pattern may nest {MAX_DEPTH} levels of objects."
)


class PatternError(Problem, ValueError):
    """An invalid event pattern (code ``invalid_pattern``).

    ``path`` is the dotted path to the offending place (``"detail.price"``, ``"$or[1].source"``,
    ``"detail.price[0].numeric"``; empty for the pattern as a whole), also its ``where`` (None when
    empty), and ``reason`` says what is wrong. ``str(err)`` is ``f"{path}: {reason}"``, or just
    ``reason`` when ``path`` is empty.
    """

    default_code = "invalid_pattern"

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}" if path else reason, where=path or None)
        self.path = path
        self.reason = reason


# --------------------------------------------------------------------------------------------
# Small helpers
# --------------------------------------------------------------------------------------------


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _describe(value: Any) -> str:
    """A short, type-first description of a JSON value for error messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"boolean {'true' if value else 'false'}"
    if isinstance(value, int | float):
        return f"number {value!r}"
    if isinstance(value, str):
        shown = value if len(value) <= 40 else value[:37] + "..."
        return f"string {shown!r}"
    if isinstance(value, list | tuple):
        return "array"
    if isinstance(value, Mapping):
        return "object"
    return f"unsupported value of type {type(value).__name__}"


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _quantize(value: float) -> int:
    """The number in millionths, the precision EventBridge compares at.

    Digits past the sixth decimal place are dropped (rounding toward negative infinity, as the
    engine's fixed-point encoding does); the tolerance absorbs binary noise such as
    ``1.005 * 1e6 == 1004999.9999999999``.
    """
    if type(value) is int:
        return value * _MICROS
    scaled = value * 1e6
    nearest = round(scaled)
    if abs(scaled - nearest) < 1e-3:
        return nearest
    return math.floor(scaled)


def _in_numeric_range(value: float) -> bool:
    return -_NUMERIC_LIMIT <= value <= _NUMERIC_LIMIT


def _is_finite(value: float) -> bool:
    # math.isfinite converts an int to a float first, which overflows for integers past 1e308.
    return isinstance(value, int) or math.isfinite(value)


def _parse_ip(text: str) -> tuple[int, int] | None:
    """``(version, integer address)`` when ``text`` is an IPv4 or IPv6 literal, else ``None``.

    Mirrors what EventBridge accepts: dotted quads (leading zeros allowed) and colon-hex IPv6;
    an IPv4-mapped IPv6 address counts as the IPv4 address it maps.
    """
    if _IPV4_RE.fullmatch(text):
        parts = [int(part) for part in text.split(".")]
        if any(part > 255 for part in parts):
            return None
        return 4, (parts[0] << 24) | (parts[1] << 16) | (parts[2] << 8) | parts[3]
    if _IPV6_RE.fullmatch(text):
        try:
            address = ipaddress.IPv6Address(text)
        except ValueError:
            return None
        mapped = address.ipv4_mapped
        if mapped is not None:
            return 4, int(mapped)
        return 6, int(address)
    return None


def _iter_mappings(value: Any) -> Iterator[Mapping[str, Any]]:
    """The objects found at a position: the value itself, or the objects in a (nested) array."""
    if isinstance(value, Mapping):
        yield value
    elif isinstance(value, list | tuple):
        for item in value:
            if isinstance(item, Mapping):
                yield item
            elif isinstance(item, list | tuple):
                yield from _iter_nested(item, mappings=True)


def _iter_leaves(values: list[Any] | tuple[Any, ...]) -> Iterator[Any]:
    """The scalar leaves of an event array; nested arrays are flattened, objects are not leaves."""
    for item in values:
        if isinstance(item, list | tuple):
            yield from _iter_nested(item, mappings=False)
        elif not isinstance(item, Mapping):
            yield item


def _iter_nested(values: list[Any] | tuple[Any, ...], *, mappings: bool) -> Iterator[Any]:
    """The objects (``mappings``) or else the scalar leaves of a nested array, in order.

    An explicit stack rather than recursion: an event may nest arrays as deep as its parser allows
    (1,024 levels), past Python's recursion limit. Flat arrays never get here, so the common case
    pays nothing for it.
    """
    stack = [iter(values)]
    while stack:
        for item in stack[-1]:
            if isinstance(item, list | tuple):
                stack.append(iter(item))
                break
            if isinstance(item, Mapping) is mappings:
                yield item
        else:
            stack.pop()


def _resolve_dotted(obj: Mapping[str, Any], key: str) -> Any:
    """Every value whose dot-joined path below ``obj`` equals ``key``.

    Used for pattern keys that contain a dot: ``"state.status"`` addresses ``{"state.status": x}``
    as well as ``{"state": {"status": x}}`` (also through arrays). Returns ``_MISSING``, the single
    value found, or a list of all of them (a list reads exactly like an event array).
    """
    found: list[Any] = []
    _collect_dotted(obj, key, found)
    if not found:
        return _MISSING
    return found[0] if len(found) == 1 else found


def _collect_dotted(obj: Mapping[str, Any], key: str, found: list[Any]) -> None:
    # Depth-first, in the order a recursive walk would take, but with an explicit stack: a key may
    # hold thousands of dots and the event nest as deep.
    stack: list[tuple[Mapping[str, Any], str]] = [(obj, key)]
    while stack:
        current, rest = stack.pop()
        if rest in current:
            found.append(current[rest])
        below: list[tuple[Mapping[str, Any], str]] = []
        cut = rest.find(".")
        while cut != -1:
            head = rest[:cut]
            if head in current:
                tail = rest[cut + 1 :]
                below.extend((child, tail) for child in _iter_mappings(current[head]))
            cut = rest.find(".", cut + 1)
        stack.extend(reversed(below))


def _dotted_children(obj: Mapping[str, Any], key: str) -> Any:
    """The object an event spells with dotted keys: ``{"a.b": 1, "a.c": 2}`` seen as ``a``.

    Only consulted when ``key`` itself is missing, so the common case costs one dict lookup.
    """
    try:
        joined = "".join(obj)
    except TypeError:
        joined = "."
    if "." not in joined:
        return _MISSING
    prefix = key + "."
    cut = len(prefix)
    children = {}
    for name, value in obj.items():
        if isinstance(name, str) and name.startswith(prefix):
            children[name[cut:]] = value
    return children if children else _MISSING


# --------------------------------------------------------------------------------------------
# String matchers
# --------------------------------------------------------------------------------------------


def _case_variants(char: str) -> frozenset[str]:
    """The characters that equal ``char`` ignoring case, by simple (one-to-one) case mapping."""
    variants = {char}
    for mapped in (char.lower(), char.upper()):
        if len(mapped) == 1:
            variants.add(mapped)
    return frozenset(variants)


@dataclass(frozen=True, slots=True)
class _Caseless:
    """A pattern string prepared for case-insensitive comparison."""

    text: str
    lowered: str
    variants: tuple[frozenset[str], ...]

    @classmethod
    def of(cls, text: str) -> _Caseless:
        return cls(text, text.lower(), tuple(_case_variants(char) for char in text))

    def equals(self, value: str) -> bool:
        return len(value) == len(self.variants) and all(
            char in allowed for char, allowed in zip(value, self.variants, strict=True)
        )

    def starts(self, value: str) -> bool:
        size = len(self.variants)
        return len(value) >= size and all(
            char in allowed for char, allowed in zip(value[:size], self.variants, strict=True)
        )

    def ends(self, value: str) -> bool:
        size = len(self.variants)
        if size == 0:
            return True
        return len(value) >= size and all(
            char in allowed for char, allowed in zip(value[-size:], self.variants, strict=True)
        )


def _caseless_matcher(texts: list[str], mode: str) -> _StrPred:
    """Case-insensitive equality, prefix or suffix test against any of ``texts``.

    ASCII values against ASCII patterns compare through ``str.lower`` (exact for ASCII); anything
    else falls back to a per-character comparison with simple case mapping, which is how the
    engine treats non-ASCII text (``"ß"`` does not equal ``"SS"``).
    """
    prepared = [_Caseless.of(text) for text in texts]
    ascii_lowered = [item.lowered for item in prepared if item.text.isascii()]
    non_ascii = [item for item in prepared if not item.text.isascii()]

    if mode == "equals":
        ascii_set = frozenset(ascii_lowered)

        def equals(value: str) -> bool:
            if value.isascii():
                if value.lower() in ascii_set:
                    return True
                return any(item.equals(value) for item in non_ascii)
            return any(item.equals(value) for item in prepared)

        return equals

    ascii_tuple = tuple(ascii_lowered)
    if mode == "prefix":

        def starts(value: str) -> bool:
            if value.isascii():
                if value.lower().startswith(ascii_tuple):
                    return True
                return any(item.starts(value) for item in non_ascii)
            return any(item.starts(value) for item in prepared)

        return starts

    def ends(value: str) -> bool:
        if value.isascii():
            if value.lower().endswith(ascii_tuple):
                return True
            return any(item.ends(value) for item in non_ascii)
        return any(item.ends(value) for item in prepared)

    return ends


def _compile_wildcard(text: str, path: str) -> _StrPred:
    """Validate a ``wildcard`` value and return a matcher for it.

    ``*`` matches any run of characters (possibly empty); ``\\*`` is a literal asterisk and
    ``\\\\`` a literal backslash. Consecutive ``*`` and any other backslash escape are errors.
    The matcher is a linear scan over the literal segments, so no pattern can backtrack badly.
    """
    segments: list[str] = []
    current: list[str] = []
    index = 0
    while index < len(text):
        char = text[index]
        if char == "*":
            if index + 1 < len(text) and text[index + 1] == "*":
                raise PatternError(path, f"wildcard: consecutive wildcard characters at position {index}")
            segments.append("".join(current))
            current = []
        elif char == "\\":
            if index + 1 < len(text) and text[index + 1] in "*\\":
                current.append(text[index + 1])
                index += 1
            else:
                raise PatternError(
                    path, f"wildcard: invalid escape at position {index} (only \\* and \\\\ are allowed)"
                )
        else:
            current.append(char)
        index += 1
    segments.append("".join(current))

    if len(segments) == 1:
        literal = segments[0]
        return literal.__eq__
    first, middle, last = segments[0], tuple(segments[1:-1]), segments[-1]
    if not middle:
        if not first and not last:
            return lambda value: True
        if not last:
            return lambda value: value.startswith(first)
        if not first:
            return lambda value: value.endswith(last)
    minimum = len(first) + len(last) + sum(len(segment) for segment in middle)

    def wildcard(value: str) -> bool:
        if len(value) < minimum or not value.startswith(first) or not value.endswith(last):
            return False
        position = len(first)
        end = len(value) - len(last)
        for segment in middle:
            found = value.find(segment, position, end)
            if found < 0:
                return False
            position = found + len(segment)
        return True

    return wildcard


def _any_str(predicates: list[_StrPred]) -> _StrPred | None:
    if not predicates:
        return None
    if len(predicates) == 1:
        return predicates[0]
    if len(predicates) == 2:
        first, second = predicates
        return lambda value: first(value) or second(value)
    frozen = tuple(predicates)

    def any_of(value: str) -> bool:
        return any(predicate(value) for predicate in frozen)

    return any_of


# --------------------------------------------------------------------------------------------
# Leaves: one field's list of values and operators
# --------------------------------------------------------------------------------------------


@dataclass(slots=True)
class _AnythingBut:
    """One ``anything-but``: which strings, or which numbers (in millionths), it excludes."""

    excludes_str: _StrPred | None = None
    excludes_num: frozenset[int] | None = None


@dataclass(slots=True)
class _Range:
    low: int
    low_open: bool
    high: int
    high_open: bool

    def contains(self, micros: int) -> bool:
        if micros < self.low or (self.low_open and micros == self.low):
            return False
        return not (micros > self.high or (self.high_open and micros == self.high))


@dataclass(slots=True)
class _Leaf:
    """Everything one field's value list accepts, gathered while validating it."""

    exact_str: set[str]
    exact_ip: set[tuple[int, int]]
    exact_micros: set[int]
    exact_big: set[float]
    true_ok: bool = False
    false_ok: bool = False
    null_ok: bool = False
    exists_true: bool = False
    exists_false: bool = False
    prefixes: list[str] | None = None
    suffixes: list[str] | None = None
    caseless: list[str] | None = None
    caseless_prefixes: list[str] | None = None
    caseless_suffixes: list[str] | None = None
    wildcards: list[_StrPred] | None = None
    cidrs: list[tuple[int, int, int]] | None = None
    ranges: list[_Range] | None = None
    anything_buts: list[_AnythingBut] | None = None
    only_plain_strings: bool = True

    @classmethod
    def parse(cls, values: list[Any] | tuple[Any, ...], path: str) -> _Leaf:
        if not values:
            raise PatternError(path, "empty arrays are not allowed")
        leaf = cls(set(), set(), set(), set())
        for index, value in enumerate(values):
            leaf._add(value, f"{path}[{index}]")
        return leaf

    def _add(self, value: Any, path: str) -> None:
        if isinstance(value, str):
            self.exact_str.add(value)
            ip = _parse_ip(value)
            if ip is not None:
                # An IP literal matches any spelling of the same address, as EventBridge does.
                self.exact_ip.add(ip)
                self.only_plain_strings = False
            return
        self.only_plain_strings = False
        if value is None:
            self.null_ok = True
        elif isinstance(value, bool):
            if value:
                self.true_ok = True
            else:
                self.false_ok = True
        elif isinstance(value, int | float):
            if not _is_finite(value):
                raise PatternError(path, f"numbers must be finite, got {value!r}")
            if _in_numeric_range(value):
                self.exact_micros.add(_quantize(value))
            else:
                # Outside the comparable range a number can still equal itself (an account id).
                self.exact_big.add(value)
        elif isinstance(value, Mapping):
            self._add_operator(value, path)
        elif isinstance(value, list | tuple):
            raise PatternError(path, "nested arrays are not allowed in a value list")
        else:
            raise PatternError(path, f"{_describe(value)} is not a JSON value")

    def _add_operator(self, matcher: Mapping[str, Any], path: str) -> None:
        if len(matcher) != 1:
            if not matcher:
                raise PatternError(path, "an operator object must name exactly one operator, got {}")
            names = ", ".join(sorted(str(name) for name in matcher))
            raise PatternError(path, f"an operator object must name exactly one operator, got {names}")
        ((name, operand),) = matcher.items()
        if name not in _OPERATORS:
            hint = " (operator names are case-sensitive)" if str(name).lower() in _OPERATORS else ""
            known = ", ".join(sorted(_OPERATORS))
            raise PatternError(path, f"unknown operator {name!r}{hint}; known operators: {known}")
        where = f"{path}.{name}"
        if name == "prefix":
            self._add_affix(operand, where, "prefix")
        elif name == "suffix":
            self._add_affix(operand, where, "suffix")
        elif name == "equals-ignore-case":
            if not isinstance(operand, str):
                reason = f"equals-ignore-case: value must be a string, got {_describe(operand)}"
                raise PatternError(where, reason)
            self.caseless = [*(self.caseless or []), operand]
        elif name == "wildcard":
            if not isinstance(operand, str):
                raise PatternError(where, f"wildcard: value must be a string, got {_describe(operand)}")
            self.wildcards = [*(self.wildcards or []), _compile_wildcard(operand, where)]
        elif name == "exists":
            if not isinstance(operand, bool):
                raise PatternError(where, f"exists: value must be true or false, got {_describe(operand)}")
            if operand:
                self.exists_true = True
            else:
                self.exists_false = True
        elif name == "cidr":
            self.cidrs = [*(self.cidrs or []), _parse_cidr(operand, where)]
        elif name == "numeric":
            self._add_numeric(operand, where)
        else:
            self.anything_buts = [*(self.anything_buts or []), _parse_anything_but(operand, where)]

    def _add_affix(self, operand: Any, path: str, kind: str) -> None:
        if isinstance(operand, str):
            if kind == "prefix":
                self.prefixes = [*(self.prefixes or []), operand]
            else:
                self.suffixes = [*(self.suffixes or []), operand]
            return
        if isinstance(operand, Mapping) and len(operand) == 1 and "equals-ignore-case" in operand:
            text = operand["equals-ignore-case"]
            if not isinstance(text, str):
                raise PatternError(
                    f"{path}.equals-ignore-case",
                    f"{kind}: equals-ignore-case value must be a string, got {_describe(text)}",
                )
            if kind == "prefix":
                self.caseless_prefixes = [*(self.caseless_prefixes or []), text]
            else:
                self.caseless_suffixes = [*(self.caseless_suffixes or []), text]
            return
        if isinstance(operand, Mapping):
            names = ", ".join(sorted(str(name) for name in operand)) or "{}"
            reason = f"{kind}: the only nested operator allowed is equals-ignore-case, got {names}"
            raise PatternError(path, reason)
        raise PatternError(
            path,
            f'{kind}: value must be a string or {{"equals-ignore-case": string}}, got {_describe(operand)}',
        )

    def _add_numeric(self, operand: Any, path: str) -> None:
        if not isinstance(operand, list | tuple) or not operand:
            raise PatternError(
                path,
                f'numeric: value must be a non-empty array like [">", 0, "<=", 5], got {_describe(operand)}',
            )
        terms = list(operand)
        operator = terms[0]
        if not isinstance(operator, str) or operator not in _NUMERIC_OPERATORS:
            raise PatternError(
                path, f"numeric: unrecognized operator {_describe(operator)}; expected one of =, <, <=, >, >="
            )
        first = _numeric_bound(terms, 1, operator, path)
        if operator == "=":
            _no_more_terms(terms, 2, path)
            self.exact_micros.add(_quantize(first))
            return
        if operator in ("<", "<="):
            _no_more_terms(terms, 2, path)
            self._add_range(-_NUMERIC_LIMIT, False, first, operator == "<", path)
            return
        if len(terms) == 2:
            self._add_range(first, operator == ">", _NUMERIC_LIMIT, False, path)
            return
        upper_operator = terms[2]
        if upper_operator not in ("<", "<="):
            raise PatternError(
                path,
                f"numeric: a range is a lower bound ('>' or '>=') followed by an upper bound ('<' or '<='),"
                f" got {_describe(upper_operator)} after {operator!r}",
            )
        second = _numeric_bound(terms, 3, str(upper_operator), path)
        _no_more_terms(terms, 4, path)
        self._add_range(first, operator == ">", second, upper_operator == "<", path)

    def _add_range(self, low: float, low_open: bool, high: float, high_open: bool, path: str) -> None:
        if low >= high:
            reason = f"numeric: the lower bound {low!r} must be less than the upper bound {high!r}"
            raise PatternError(path, reason)
        bounds = _Range(_quantize(low), low_open, _quantize(high), high_open)
        self.ranges = [*(self.ranges or []), bounds]

    # -- compilation ------------------------------------------------------------------------

    def pinned(self) -> frozenset[str] | None:
        """The exact strings this leaf requires, when a plain list of strings is all it holds."""
        if self.only_plain_strings and self.exact_str:
            return frozenset(self.exact_str)
        return None

    def str_predicate(self) -> _StrPred | None:
        if self.exists_true:
            return lambda value: True
        predicates: list[_StrPred] = []
        if self.exact_str:
            predicates.append(frozenset(self.exact_str).__contains__)
        if self.prefixes:
            prefixes = tuple(self.prefixes)
            predicates.append(lambda value: value.startswith(prefixes))
        if self.suffixes:
            suffixes = tuple(self.suffixes)
            predicates.append(lambda value: value.endswith(suffixes))
        if self.caseless:
            predicates.append(_caseless_matcher(self.caseless, "equals"))
        if self.caseless_prefixes:
            predicates.append(_caseless_matcher(self.caseless_prefixes, "prefix"))
        if self.caseless_suffixes:
            predicates.append(_caseless_matcher(self.caseless_suffixes, "suffix"))
        predicates.extend(self.wildcards or ())
        if self.exact_ip or self.cidrs:
            predicates.append(_ip_matcher(frozenset(self.exact_ip), tuple(self.cidrs or ())))
        for anything_but in self.anything_buts or ():
            excludes = anything_but.excludes_str
            if excludes is None:
                return lambda value: True  # a numeric anything-but accepts every string
            predicates.append(_negate(excludes))
        return _any_str(predicates)

    def num_predicate(self) -> _NumPred | None:
        if self.exists_true:
            return lambda value: True
        numeric_excludes: list[frozenset[int]] = []
        for anything_but in self.anything_buts or ():
            if anything_but.excludes_num is None:
                return lambda value: True  # a string anything-but accepts every number
            numeric_excludes.append(anything_but.excludes_num)
        exact = frozenset(self.exact_micros)
        big = frozenset(self.exact_big)
        ranges = tuple(self.ranges or ())
        excludes = tuple(numeric_excludes)
        if not (exact or big or ranges or excludes):
            return None
        if not big and not excludes and len(ranges) <= 1:
            return _simple_num_predicate(exact, ranges[0] if ranges else None)

        def number(value: float) -> bool:
            if not _in_numeric_range(value):
                # Out of range, a number still equals itself and escapes every numeric anything-but.
                return value in big or bool(excludes)
            micros = _quantize(value)
            if micros in exact:
                return True
            if any(bounds.contains(micros) for bounds in ranges):
                return True
            return any(micros not in excluded for excluded in excludes)

        return number

    def compile(self) -> tuple[_ValuePred, bool]:
        """The predicate over the raw event value at this leaf, and whether absence matches."""
        str_pred = self.str_predicate()
        num_pred = self.num_predicate()
        accepts_any = self.exists_true or bool(self.anything_buts)
        true_ok = self.true_ok or accepts_any
        false_ok = self.false_ok or accepts_any
        null_ok = self.null_ok or accepts_any
        absent_ok = self.exists_false

        def scalar(value: Any) -> bool:
            kind = type(value)
            if kind is str:
                return str_pred is not None and str_pred(value)
            if kind is bool:
                return true_ok if value else false_ok
            if kind is int or kind is float:
                return num_pred is not None and num_pred(value)
            if value is None:
                return null_ok
            # Subclasses (e.g. enum.StrEnum) after the exact-type fast paths.
            if isinstance(value, str):
                return str_pred is not None and str_pred(value)
            if isinstance(value, bool):
                return true_ok if value else false_ok
            if isinstance(value, int | float):
                return num_pred is not None and num_pred(value)
            return False

        def value_pred(value: Any) -> bool:
            if type(value) is str:
                return str_pred is not None and str_pred(value)
            if value is _MISSING:
                return absent_ok
            if isinstance(value, list | tuple):
                seen = False
                for item in _iter_leaves(value):
                    if scalar(item):
                        return True
                    seen = True
                # An empty array (or one holding only objects) has no leaf here: absent.
                return absent_ok and not seen
            if isinstance(value, Mapping):
                return absent_ok  # an object is not a leaf, so the leaf is absent
            return scalar(value)

        return value_pred, absent_ok


def _numeric_bound(terms: list[Any], index: int, operator: str, path: str) -> float:
    if index >= len(terms):
        raise PatternError(path, f"numeric: {operator!r} must be followed by a number")
    value = terms[index]
    if not _is_number(value):
        reason = f"numeric: {operator!r} must be followed by a number, got {_describe(value)}"
        raise PatternError(path, reason)
    if not _is_finite(value) or not _in_numeric_range(value):
        raise PatternError(path, f"numeric: {value!r} is outside the supported range -5e9..5e9")
    return float(value) if isinstance(value, float) else value


def _no_more_terms(terms: list[Any], size: int, path: str) -> None:
    if len(terms) > size:
        raise PatternError(path, f"numeric: too many elements in {terms!r}")


def _simple_num_predicate(exact: frozenset[int], bounds: _Range | None) -> _NumPred:
    if bounds is None:

        def equal(value: float) -> bool:
            return _in_numeric_range(value) and _quantize(value) in exact

        return equal
    low, low_open, high, high_open = bounds.low, bounds.low_open, bounds.high, bounds.high_open

    def in_range(value: float) -> bool:
        if not _in_numeric_range(value):
            return False
        micros = _quantize(value)
        if micros in exact:
            return True
        if micros < low or (low_open and micros == low):
            return False
        return not (micros > high or (high_open and micros == high))

    return in_range


def _negate(predicate: _StrPred) -> _StrPred:
    return lambda value: not predicate(value)


def _ip_matcher(exact: frozenset[tuple[int, int]], cidrs: tuple[tuple[int, int, int], ...]) -> _StrPred:
    def ip(value: str) -> bool:
        address = _parse_ip(value)
        if address is None:
            return False
        if address in exact:
            return True
        version, number = address
        return any(version == net_version and low <= number <= high for net_version, low, high in cidrs)

    return ip


def _parse_cidr(operand: Any, path: str) -> tuple[int, int, int]:
    """``(version, lowest, highest)`` for a ``cidr`` value.

    The range runs from the address as written to the address with every host bit set, which is
    what EventBridge computes; the mask must leave at least one host bit (IPv4 /0-/31, IPv6
    /0-/127).
    """
    if not isinstance(operand, str):
        raise PatternError(path, f"cidr: value must be a string like '10.0.0.0/24', got {_describe(operand)}")
    parts = operand.split("/")
    if len(parts) != 2 or not parts[1]:
        raise PatternError(path, f"cidr: malformed CIDR {operand!r}, expected one '/' as in '10.0.0.0/24'")
    if not _MASK_RE.fullmatch(parts[1]):
        raise PatternError(path, f"cidr: mask bits must be an integer, got {parts[1]!r}")
    mask = int(parts[1])
    if mask < 0:
        raise PatternError(path, f"cidr: mask bits must not be negative, got {mask}")
    address = _parse_ip(parts[0])
    if address is None:
        raise PatternError(path, f"cidr: invalid IP address {parts[0]!r}")
    version, number = address
    width = 32 if version == 4 else 128
    if mask >= width:
        reason = f"cidr: IPv{version} mask bits must be between 0 and {width - 1}, got {mask}"
        raise PatternError(path, reason)
    return version, number, number | ((1 << (width - mask)) - 1)


def _parse_anything_but(operand: Any, path: str) -> _AnythingBut:
    if isinstance(operand, str):
        return _AnythingBut(excludes_str=frozenset({operand}).__contains__)
    if _is_number(operand):
        return _AnythingBut(excludes_num=frozenset({_anything_but_number(operand, path)}))
    if isinstance(operand, list | tuple):
        if not operand:
            raise PatternError(path, "anything-but: empty arrays are not allowed")
        if all(isinstance(item, str) for item in operand):
            return _AnythingBut(excludes_str=frozenset(operand).__contains__)
        if all(_is_number(item) for item in operand):
            return _AnythingBut(excludes_num=frozenset(_anything_but_number(item, path) for item in operand))
        raise PatternError(
            path,
            "anything-but: a list must hold only strings or only numbers"
            f" (null, booleans, objects and mixed lists are not supported), got {list(operand)!r}",
        )
    if isinstance(operand, Mapping):
        return _parse_anything_but_operator(operand, path)
    raise PatternError(
        path,
        "anything-but: value must be a string, a number, a list of either, or one of prefix, suffix,"
        f" equals-ignore-case, wildcard; got {_describe(operand)}",
    )


def _anything_but_number(value: Any, path: str) -> int:
    if not _is_finite(value) or not _in_numeric_range(value):
        raise PatternError(path, f"anything-but: {value!r} is outside the supported range -5e9..5e9")
    return _quantize(value)


def _parse_anything_but_operator(operand: Mapping[str, Any], path: str) -> _AnythingBut:
    supported = ("equals-ignore-case", "prefix", "suffix", "wildcard")
    if len(operand) != 1:
        names = ", ".join(sorted(str(name) for name in operand)) or "{}"
        raise PatternError(path, f"anything-but: expected exactly one of {', '.join(supported)}, got {names}")
    ((name, value),) = operand.items()
    if name not in supported:
        expected = ", ".join(supported)
        raise PatternError(path, f"anything-but: unsupported operator {name!r}; expected one of {expected}")
    where = f"{path}.{name}"
    if isinstance(value, str):
        texts = [value]
    elif isinstance(value, list | tuple) and value and all(isinstance(item, str) for item in value):
        texts = list(value)
    elif isinstance(value, list | tuple) and not value:
        raise PatternError(where, f"anything-but: {name} list must not be empty")
    else:
        got = _describe(value)
        if isinstance(value, list | tuple):
            got = "a list holding " + ", ".join(_describe(item) for item in value)
        reason = f"anything-but: {name} value must be a string or a list of strings, got {got}"
        raise PatternError(where, reason)
    if name in ("prefix", "suffix") and "" in texts:
        raise PatternError(where, f"anything-but: an empty {name} is not allowed")
    if name == "prefix":
        prefixes = tuple(texts)
        return _AnythingBut(excludes_str=lambda text: text.startswith(prefixes))
    if name == "suffix":
        suffixes = tuple(texts)
        return _AnythingBut(excludes_str=lambda text: text.endswith(suffixes))
    if name == "equals-ignore-case":
        return _AnythingBut(excludes_str=_caseless_matcher(texts, "equals"))
    wildcards = [_compile_wildcard(text, where) for text in texts]
    excludes = _any_str(wildcards)
    assert excludes is not None  # texts is never empty here
    return _AnythingBut(excludes_str=excludes)


# --------------------------------------------------------------------------------------------
# Objects: fields ANDed, $or groups, nesting
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Node:
    """A compiled pattern object.

    ``test`` evaluates a mapping found at this position; ``absent_ok`` says whether the object
    matches when the event has nothing (or no object) here, which only holds when every field it
    names can be absent (``exists: false``). ``pins`` and ``or_groups`` serve ``pinned_values``.
    """

    test: _ObjectPred
    absent_ok: bool
    pins: Mapping[str, frozenset[str] | None]
    or_groups: tuple[tuple[_Node, ...], ...]


def _compile_object(pattern: Any, path: str, in_or: bool, depth: int = 1) -> _Node:
    if depth > MAX_DEPTH:
        raise PatternError(path, TOO_DEEP)
    if not isinstance(pattern, Mapping):
        raise PatternError(path, f"must be an object, got {_describe(pattern)}")
    if not pattern:
        raise PatternError(path, "empty objects are not allowed")
    # (cost rank, check, absent_ok); cheap and selective checks run first.
    checks: list[tuple[int, _ObjectPred, bool]] = []
    pins: dict[str, frozenset[str] | None] = {}
    or_groups: list[tuple[_Node, ...]] = []
    for key, value in pattern.items():
        if not isinstance(key, str):
            raise PatternError(path, f"field names must be strings, got {_describe(key)}")
        if key == "$or":
            group = _compile_or(value, path, depth)
            or_groups.append(group)
            checks.append((3, _or_check(group), any(alternative.absent_ok for alternative in group)))
            continue
        where = _join(path, key)
        if in_or and key in _RESERVED_IN_OR:
            reason = f"{key!r} is an operator name and cannot be used as a field name inside $or"
            raise PatternError(where, reason)
        if isinstance(value, Mapping):
            child = _compile_object(value, where, in_or, depth + 1)
            checks.append((2, _object_check(key, child), child.absent_ok))
        elif isinstance(value, list | tuple):
            leaf = _Leaf.parse(value, where)
            predicate, absent_ok = leaf.compile()
            if "." not in key:
                pins[key] = leaf.pinned()
            fast = leaf.pinned()
            checks.append((0 if fast is not None else 1, _leaf_check(key, predicate, fast), absent_ok))
        else:
            got = _describe(value)
            reason = f'must be an object or an array, got {got} (values are always listed, e.g. ["x"])'
            raise PatternError(where, reason)
    checks.sort(key=lambda item: item[0])
    tests = tuple(check for _, check, _ in checks)
    return _Node(
        test=_all_of(tests),
        absent_ok=all(absent_ok for _, _, absent_ok in checks),
        pins=pins,
        or_groups=tuple(or_groups),
    )


def _compile_or(value: Any, path: str, depth: int) -> tuple[_Node, ...]:
    where = _join(path, "$or")
    if not isinstance(value, list | tuple) or len(value) < 2:
        raise PatternError(where, f"must be an array of at least two pattern objects, got {_describe(value)}")
    alternatives: list[_Node] = []
    for index, alternative in enumerate(value):
        at = f"{where}[{index}]"
        if not isinstance(alternative, Mapping):
            raise PatternError(at, f"each $or alternative must be an object, got {_describe(alternative)}")
        alternatives.append(_compile_object(alternative, at, True, depth + 1))
    return tuple(alternatives)


def _all_of(tests: tuple[_ObjectPred, ...]) -> _ObjectPred:
    if len(tests) == 1:
        return tests[0]
    if len(tests) == 2:
        first, second = tests
        return lambda obj: first(obj) and second(obj)
    if len(tests) == 3:
        first, second, third = tests
        return lambda obj: first(obj) and second(obj) and third(obj)

    def all_of(obj: Mapping[str, Any]) -> bool:
        # A plain loop: all() over a generator costs a frame per call on this hot path.
        for test in tests:
            if not test(obj):
                break
        else:
            return True
        return False

    return all_of


def _or_check(group: tuple[_Node, ...]) -> _ObjectPred:
    tests = tuple(alternative.test for alternative in group)

    def any_of(obj: Mapping[str, Any]) -> bool:
        for test in tests:
            if test(obj):
                break
        else:
            return False
        return True

    return any_of


def _leaf_check(key: str, predicate: _ValuePred, fast: frozenset[str] | None) -> _ObjectPred:
    if "." in key:
        return lambda obj: predicate(_resolve_dotted(obj, key))
    if fast is not None:
        # The usual "source": ["aws.ec2", ...] leaf: one lookup and one set probe.
        def exact(obj: Mapping[str, Any]) -> bool:
            value = obj.get(key, _MISSING)
            if type(value) is str:
                return value in fast
            return predicate(value)

        return exact

    def leaf(obj: Mapping[str, Any]) -> bool:
        return predicate(obj.get(key, _MISSING))

    return leaf


def _object_check(key: str, child: _Node) -> _ObjectPred:
    test = child.test
    absent_ok = child.absent_ok

    def descend(value: Any) -> bool:
        if value is _MISSING:
            return absent_ok
        if isinstance(value, Mapping):
            return test(value)
        if isinstance(value, list | tuple):
            # Array consistency: the whole sub-pattern must hold within one element.
            seen = False
            for element in _iter_mappings(value):
                if test(element):
                    return True
                seen = True
            return absent_ok and not seen
        return absent_ok  # a scalar has no fields below it

    if "." in key:

        def dotted(obj: Mapping[str, Any]) -> bool:
            value = _resolve_dotted(obj, key)
            if value is _MISSING or not isinstance(value, Mapping | list | tuple):
                value = _dotted_children(obj, key)
            return descend(value)

        return dotted

    def nested(obj: Mapping[str, Any]) -> bool:
        value = obj.get(key, _MISSING)
        if type(value) is dict:
            return test(value)
        if value is _MISSING or not isinstance(value, Mapping | list | tuple):
            # Nothing nested here, but dotted event keys ("state.status") may spell the object.
            value = _dotted_children(obj, key)
        return descend(value)

    return nested


def _pinned(node: _Node, field: str) -> frozenset[str] | None:
    pinned = node.pins.get(field)
    for group in node.or_groups:
        alternatives = [_pinned(alternative, field) for alternative in group]
        if any(values is None for values in alternatives):
            continue
        union = frozenset().union(*(values for values in alternatives if values is not None))
        pinned = union if pinned is None else pinned & union
    return pinned


# --------------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------------


class CompiledPattern:
    """A validated, compiled event pattern; immutable and safe to share between threads."""

    __slots__ = ("_pins", "_root", "_test", "source")

    def __init__(self, root: _Node, source: str) -> None:
        self._root = root
        self._test = root.test
        self._pins: dict[str, frozenset[str] | None] = {}
        #: The pattern as canonical JSON (sorted keys, no whitespace).
        self.source = source

    def matches(self, event: Mapping[str, Any]) -> bool:
        """Whether ``event`` (an EventBridge-shaped JSON object) matches; ``False`` for non-objects."""
        if type(event) is dict or isinstance(event, Mapping):
            return self._test(event)
        return False

    def pinned_values(self, field: str) -> frozenset[str] | None:
        """The exact strings top-level ``field`` must equal for any match, or ``None``.

        When every way this pattern can match requires ``field`` (e.g. ``"source"`` or
        ``"detail-type"``) to be one of a finite set of exact strings, that set is returned, so
        callers can pre-filter on an indexed column. The answer is conservative: an event whose
        ``field`` holds a string outside the set can never match. ``None`` means no such promise.
        It assumes ``field`` holds a single string in matching events, as it does in every
        EventBridge envelope.
        """
        try:
            return self._pins[field]
        except KeyError:
            pinned = _pinned(self._root, field)
            self._pins[field] = pinned
            return pinned

    def __repr__(self) -> str:
        return f"CompiledPattern({self.source})"


def _too_large(size: str = f"more than {MAX_PATTERN_SIZE:,}") -> PatternError:
    """The refusal of a pattern past MAX_PATTERN_SIZE; ``size`` is what was measured, if known."""
    return PatternError(
        "", f"the pattern is too large: {size} characters as compact JSON, at most {MAX_PATTERN_SIZE:,}"
    )


def check_limits(pattern: Any) -> None:
    """Raise :class:`PatternError` when ``pattern`` (parsed JSON) passes a limit on its size.

    The limits are :data:`MAX_VALUES` entries in value lists and operator operands,
    :data:`MAX_ALTERNATIVES` ``$or`` alternatives (all groups together), a nesting no valid pattern
    exceeds (reported as :data:`TOO_DEEP`) and :data:`MAX_PATTERN_SIZE` characters. The walk uses an
    explicit stack and stops at the first limit passed, so its cost is bounded by the limits, not
    by the pattern. Its size is a lower bound of the compact JSON (escapes are not counted):
    :func:`compile_pattern` measures the exact size once the pattern has compiled. Anything the
    walk lets through is bounded work for the compiler; whether it is a valid pattern is the
    compiler's business.
    """
    size = values = alternatives = 0
    # (node, JSON nesting level, whether node is the value of a "$or" field)
    stack: list[tuple[Any, int, bool]] = [(pattern, 1, False)]
    while stack:
        node, depth, under_or = stack.pop()
        if isinstance(node, Mapping):
            if depth > _MAX_NESTING:
                raise PatternError("", TOO_DEEP)
            size += 1 + 2 * len(node)  # braces, and a colon and a comma (or "}") per field
            if size > MAX_PATTERN_SIZE:
                raise _too_large()
            for key, value in node.items():
                size += len(key) + 2 if isinstance(key, str) else 1
                stack.append((value, depth + 1, key == "$or"))
        elif isinstance(node, list | tuple):
            if depth > _MAX_NESTING:
                raise PatternError("", TOO_DEEP)
            if under_or:
                alternatives += len(node)
                if alternatives > MAX_ALTERNATIVES:
                    reason = f"the pattern has too many $or alternatives: more than {MAX_ALTERNATIVES} in all"
                    raise PatternError("", reason)
            else:
                values += len(node)
                if values > MAX_VALUES:
                    raise PatternError("", f"the pattern lists too many values: more than {MAX_VALUES:,} in all")
            size += len(node) + 1 if node else 2  # brackets and commas
            if size > MAX_PATTERN_SIZE:
                raise _too_large()
            stack.extend((item, depth + 1, False) for item in node)
        else:
            if isinstance(node, str):
                size += len(node) + 2
            elif node is None or isinstance(node, bool):
                size += 4
            else:
                size += 1  # a number has at least one digit
            if size > MAX_PATTERN_SIZE:
                raise _too_large()


def json_too_deep(error: ValueError) -> bool:
    """Whether a JSON parser's ``error`` is its nesting limit rather than a syntax error.

    orjson reads up to 1,024 levels and says "depth limit exceeded" past them; the answer to such
    a body is "too deep", not "not valid JSON".
    """
    return "depth limit exceeded" in str(error)


def _load_json(text: str | bytes | bytearray, limits: bool = True) -> Any:
    if limits and len(text) > _MAX_TEXT:  # refused unread: a pattern within the limits is never this long
        reason = f"the pattern is too large: {len(text):,} characters of JSON text, at most {_MAX_TEXT:,}"
        raise PatternError("", reason)
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        if json_too_deep(exc):
            raise PatternError("", TOO_DEEP) from None
        raise PatternError("", f"invalid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})") from None


def _canonical(pattern: Any) -> str:
    return json.dumps(pattern, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def compile_pattern(pattern: Any, *, limits: bool = True) -> CompiledPattern:
    """Validate and compile an event pattern given as a mapping or as a JSON string.

    Raises :class:`PatternError` for anything EventBridge would reject, including ``None`` and the
    empty pattern ``{}`` (callers that store "no pattern" as ``None`` handle match-all themselves),
    and, unless ``limits`` is false, for a pattern past the limits (:func:`check_limits`), checked
    before anything is compiled. ``limits=False`` is for patterns already stored, which were
    accepted under the limits of their day; the depth limit holds either way.
    """
    parsed = _load_json(pattern, limits) if isinstance(pattern, str | bytes | bytearray) else pattern
    if parsed is None:
        raise PatternError("", "the pattern is null; an event pattern must be a JSON object")
    if not isinstance(parsed, Mapping):
        raise PatternError("", f"an event pattern must be a JSON object, got {_describe(parsed)}")
    if not parsed:
        raise PatternError("", "an empty pattern {} is not allowed; name at least one field")
    if limits:
        check_limits(parsed)
    root = _compile_object(parsed, "", in_or=False)
    canonical = _canonical(parsed)
    if limits and len(canonical) > MAX_PATTERN_SIZE:
        raise _too_large(f"{len(canonical):,}")
    if text_holds_nul(canonical):  # no event can hold it, and no database column stores it
        raise PatternError("", "a pattern must not contain the character U+0000 (NUL)")
    return CompiledPattern(root, canonical)


@functools.lru_cache(maxsize=_CACHE_SIZE)
def _compile_canonical(source: str) -> CompiledPattern:
    return compile_pattern(source)


def matches(pattern: Any, event: Mapping[str, Any]) -> bool:
    """Whether ``event`` matches ``pattern`` (a mapping, a JSON string or a CompiledPattern).

    Compiled patterns are kept in a small LRU cache keyed by the pattern's canonical JSON, so
    repeated calls with equal patterns compile once. Raises :class:`PatternError` like
    :func:`compile_pattern`.
    """
    if isinstance(pattern, CompiledPattern):
        return pattern.matches(event)
    parsed = _load_json(pattern) if isinstance(pattern, str | bytes | bytearray) else pattern
    check_limits(parsed)  # before the canonical JSON below, whose work grows with the pattern
    try:
        source = _canonical(parsed)
        # json.dumps quietly turns non-string keys into strings; only a faithful round trip may
        # share a cache entry, anything else is compiled (and rejected) as given.
        faithful = isinstance(pattern, str | bytes | bytearray) or json.loads(source) == parsed
    except (TypeError, ValueError):
        faithful = False
    if not faithful:
        return compile_pattern(parsed).matches(event)
    return _compile_canonical(source).matches(event)


# --------------------------------------------------------------------------------------------
# Why an event does not match
# --------------------------------------------------------------------------------------------

#: Event values quoted in an explanation are cut to this many characters of JSON.
_QUOTE_CHARS: Final = 80


@dataclass(frozen=True, slots=True)
class Mismatch:
    """The first part of a pattern an event fails, for a person to read.

    ``path`` is the dotted path of the failing field (``"detail.status"``; ``"$or"`` or
    ``"detail.$or"`` for a group none of whose alternatives matches; a pattern object's own path
    when each of its fields matches some element of an event array but no one element matches
    them all). ``expected`` is the pattern's value there, ``found`` the event's (None when
    ``present`` is false), and ``reason`` one sentence saying it all.
    """

    path: str
    reason: str
    expected: Any
    found: Any
    present: bool

    def as_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "reason": self.reason,
            "expected": self.expected,
            "found": self.found,
            "present": self.present,
        }


def _quote(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= _QUOTE_CHARS else text[: _QUOTE_CHARS - 1] + "…"


def _nest(keys: list[str], value: Any) -> dict[str, Any]:
    """``value`` under ``keys``: ``(["a", "b"], v)`` is ``{"a": {"b": v}}``."""
    for key in reversed(keys):
        value = {key: value}
    return value  # type: ignore[no-any-return]


def _value_at(event: Mapping[str, Any], keys: list[str]) -> Any:
    """What the event holds at ``keys`` as the engine reads it (dotted keys, arrays of objects);
    ``_MISSING`` when nothing. Several values (through arrays) come back as a list."""
    current: list[Any] = [event]
    for key in keys:
        found: list[Any] = []
        for holder in current:
            for obj in _iter_mappings(holder):
                value = _resolve_dotted(obj, key) if "." in key else obj.get(key, _MISSING)
                if value is _MISSING:
                    value = _dotted_children(obj, key)
                if value is not _MISSING:
                    found.append(value)
        if not found:
            return _MISSING
        current = found
    return current[0] if len(current) == 1 else current


def _holds(keys: list[str], value: Any, event: Mapping[str, Any]) -> bool:
    return compile_pattern(_nest(keys, value), limits=False).matches(event)


def _first_failure(node: Mapping[str, Any], keys: list[str], event: Mapping[str, Any]) -> Mismatch | None:
    """The first field of pattern object ``node`` (at ``keys``) that ``event`` fails, in the
    pattern's own order; None when each field holds on its own."""
    for key, value in node.items():
        if key == "$or":
            if _holds(keys, {"$or": value}, event):
                continue
            failures = [_first_failure(alternative, keys, event) for alternative in value]
            said = "; ".join(f"[{i}] {m.reason}" for i, m in enumerate(failures) if m is not None)
            path = ".".join([*keys, "$or"])
            reason = f"none of the {len(value)} alternatives of {path} matches" + (f": {said}" if said else "")
            return Mismatch(path, reason, value, None, False)
        at = [*keys, key]
        if _holds(at, value, event):
            continue
        path = ".".join(at)
        found = _value_at(event, at)
        present = found is not _MISSING
        shown = found if present else None
        if isinstance(value, Mapping):
            inner = _first_failure(value, at, event)
            if inner is not None:
                return inner
            reason = (
                f"{path}: each field matches in some element of the event's array,"
                " but no single element matches them all"
            )
            return Mismatch(path, reason, value, shown, present)
        if present:
            reason = f"{path} is {_quote(found)}; the pattern wants {_quote(value)}"
        else:
            reason = f"{path} is missing from the event; the pattern wants {_quote(value)}"
        return Mismatch(path, reason, value, shown, present)
    return None


def explain_mismatch(pattern: Any, event: Mapping[str, Any]) -> Mismatch | None:
    """Why ``event`` does not match ``pattern``: the first failing field, or None when it matches.

    ``pattern`` is a mapping or JSON text, validated as :func:`compile_pattern` does (it raises
    :class:`PatternError` the same way). Fields are tried in the pattern's own order, each alone
    (with the engine itself, so the answer never disagrees with :meth:`CompiledPattern.matches`),
    and a failing object is searched for its first failing field below. A non-object event fails
    the whole pattern (path ``""``).
    """
    parsed = _load_json(pattern) if isinstance(pattern, str | bytes | bytearray) else pattern
    compiled = compile_pattern(parsed)
    if compiled.matches(event):
        return None
    if not isinstance(event, Mapping):
        return Mismatch("", f"the event is not a JSON object, got {_describe(event)}", parsed, event, True)
    found = _first_failure(parsed, [], event)
    if found is not None:
        return found
    # Unreachable while every field is tried alone; kept so the answer is never None for a miss.
    return Mismatch("", "the event does not match the pattern as a whole", parsed, None, False)
