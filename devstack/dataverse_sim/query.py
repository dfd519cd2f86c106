"""OData query options as Dataverse applies them: `$select`, `$filter`, `$orderby`, `$top`, `$expand`.

`$filter` supports comparisons (`eq ne gt ge lt le`) of a property with a literal
(`'text'` with `''` escaping, bare guids, numbers, `true`/`false`, `null`, ISO
date-times), joined by `and`/`or`, negated by `not`, grouped by parentheses, and
the string functions `contains`, `startswith`, `endswith`. Every property named
must be a Web API property of the table (`_x_value` for lookups), else the 400
Dataverse gives. String comparisons ignore case, as Dataverse's collation does.
`$skip` is refused, as Dataverse refuses it; paging is by `Prefer: odata.maxpagesize`.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from devstack.dataverse_sim.schema import Entity
from devstack.dataverse_sim.wire import QUERY_NOT_SUPPORTED, DataverseFault, normalize_datetime

_TOKEN = re.compile(
    r"""\s*(?:
      (?P<string>'(?:[^']|'')*')
    | (?P<datetime>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:\d{2}))
    | (?P<guid>[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})
    | (?P<date>\d{4}-\d{2}-\d{2})
    | (?P<number>-?\d+(?:\.\d+)?)
    | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
    | (?P<punct>[(),/])
    )""",
    re.VERBOSE,
)
_COMPARISONS = frozenset({"eq", "ne", "gt", "ge", "lt", "le"})
_FUNCTIONS = frozenset({"contains", "startswith", "endswith"})

Getter = Callable[[str], Any]


@dataclass(frozen=True, slots=True)
class Token:
    kind: str
    text: str
    value: Any = None


# -- $filter ----------------------------------------------------------------------------------------


class Filter(ABC):
    @abstractmethod
    def matches(self, get: Getter) -> bool: ...


@dataclass(frozen=True, slots=True)
class Comparison(Filter):
    prop: str
    op: str
    value: Any

    def matches(self, get: Getter) -> bool:
        return compare(get(self.prop), self.op, self.value)


@dataclass(frozen=True, slots=True)
class Function(Filter):
    name: str
    prop: str
    value: str

    def matches(self, get: Getter) -> bool:
        actual = get(self.prop)
        if not isinstance(actual, str):
            return False
        haystack, needle = actual.lower(), self.value.lower()
        if self.name == "contains":
            return needle in haystack
        if self.name == "startswith":
            return haystack.startswith(needle)
        return haystack.endswith(needle)


@dataclass(frozen=True, slots=True)
class Junction(Filter):
    op: str
    parts: tuple[Filter, ...]

    def matches(self, get: Getter) -> bool:
        if self.op == "and":
            return all(part.matches(get) for part in self.parts)
        return any(part.matches(get) for part in self.parts)


@dataclass(frozen=True, slots=True)
class Negation(Filter):
    inner: Filter

    def matches(self, get: Getter) -> bool:
        return not self.inner.matches(get)


def compare(actual: Any, op: str, expected: Any) -> bool:
    if isinstance(actual, str) and isinstance(expected, str):
        actual, expected = actual.lower(), expected.lower()
    if isinstance(actual, bool) or isinstance(expected, bool):
        actual = bool(actual) if actual is not None else None
    if op == "eq":
        return bool(actual == expected)
    if op == "ne":
        return bool(actual != expected)
    if actual is None or expected is None:
        return False
    try:
        if op == "gt":
            return bool(actual > expected)
        if op == "ge":
            return bool(actual >= expected)
        if op == "lt":
            return bool(actual < expected)
        return bool(actual <= expected)
    except TypeError:
        return False


def parse_filter(text: str, entity: Entity) -> Filter:
    parser = _FilterParser(_tokenize(text), entity, text=text)
    result = parser.expression()
    if parser.peek() is not None:
        raise _syntax_error(text, parser.peek())
    return result


def _tokenize(text: str) -> list[Token]:
    tokens: list[Token] = []
    position = 0
    while position < len(text):
        if text[position:].strip() == "":
            break
        match = _TOKEN.match(text, position)
        if match is None or match.end() == position:
            raise DataverseFault.bad_request(
                f"Syntax error at position {position} in '{text}'.", QUERY_NOT_SUPPORTED
            )
        position = match.end()
        kind = match.lastgroup or ""
        raw = match.group(kind)
        tokens.append(Token(kind, raw, _literal(kind, raw)))
    return tokens


def _literal(kind: str, raw: str) -> Any:
    if kind == "string":
        return raw[1:-1].replace("''", "'")
    if kind == "guid":
        return raw.lower()
    if kind == "number":
        return float(raw) if "." in raw else int(raw)
    if kind in ("datetime", "date"):
        return normalize_datetime(raw)
    return None


def _syntax_error(text: str, token: Token | None) -> DataverseFault:
    where = f"near '{token.text}'" if token is not None else "at the end"
    return DataverseFault.bad_request(f"Syntax error {where} in $filter '{text}'.", QUERY_NOT_SUPPORTED)


@dataclass
class _FilterParser:
    tokens: list[Token]
    entity: Entity
    position: int = 0
    text: str = field(default="")

    def peek(self) -> Token | None:
        return self.tokens[self.position] if self.position < len(self.tokens) else None

    def take(self) -> Token:
        token = self.peek()
        if token is None:
            raise _syntax_error(self.text, None)
        self.position += 1
        return token

    def keyword(self, *words: str) -> str | None:
        token = self.peek()
        if token is not None and token.kind == "name" and token.text in words:
            self.position += 1
            return token.text
        return None

    def expect(self, text: str) -> None:
        token = self.take()
        if token.text != text:
            raise _syntax_error(self.text, token)

    def expression(self) -> Filter:
        parts = [self.conjunction()]
        while self.keyword("or"):
            parts.append(self.conjunction())
        return parts[0] if len(parts) == 1 else Junction("or", tuple(parts))

    def conjunction(self) -> Filter:
        parts = [self.unary()]
        while self.keyword("and"):
            parts.append(self.unary())
        return parts[0] if len(parts) == 1 else Junction("and", tuple(parts))

    def unary(self) -> Filter:
        if self.keyword("not"):
            return Negation(self.unary())
        token = self.peek()
        if token is not None and token.text == "(":
            self.take()
            inner = self.expression()
            self.expect(")")
            return inner
        if token is not None and token.kind == "name" and token.text in _FUNCTIONS:
            return self.function()
        return self.comparison()

    def function(self) -> Filter:
        name = self.take().text
        self.expect("(")
        prop = self.property()
        self.expect(",")
        literal = self.take()
        if literal.kind != "string":
            raise _syntax_error(self.text, literal)
        self.expect(")")
        return Function(name, prop, literal.value)

    def comparison(self) -> Filter:
        prop = self.property()
        op = self.take()
        if op.kind != "name" or op.text not in _COMPARISONS:
            raise _syntax_error(self.text, op)
        literal = self.take()
        if literal.kind == "name" and literal.text in ("true", "false"):
            value: Any = literal.text == "true"
        elif literal.kind == "name" and literal.text == "null":
            value = None
        elif literal.kind in ("string", "guid", "number", "datetime", "date"):
            value = literal.value
        else:
            raise _syntax_error(self.text, literal)
        return Comparison(prop, op.text, value)

    def property(self) -> str:
        token = self.take()
        if token.kind != "name":
            raise _syntax_error(self.text, token)
        following = self.peek()
        if following is not None and following.text == "/":
            raise DataverseFault.not_modelled(f"property paths in $filter ('{token.text}/...')")
        if token.text not in self.entity.properties:
            raise DataverseFault.unknown_property(token.text, self.entity.type_name)
        return token.text


# -- $select, $orderby, $expand ------------------------------------------------------------------------


def parse_select(text: str | None, entity: Entity) -> list[str] | None:
    if text is None:
        return None
    names = [part.strip() for part in text.split(",") if part.strip()]
    for name in names:
        if name not in entity.properties:
            raise DataverseFault.unknown_property(name, entity.type_name)
    return names


def parse_orderby(text: str | None, entity: Entity) -> list[tuple[str, bool]]:
    if not text:
        return []
    order: list[tuple[str, bool]] = []
    for part in text.split(","):
        words = part.split()
        if not words or len(words) > 2 or (len(words) == 2 and words[1].lower() not in ("asc", "desc")):
            raise DataverseFault.bad_request(f"Syntax error in $orderby '{text}'.", QUERY_NOT_SUPPORTED)
        if words[0] not in entity.properties:
            raise DataverseFault.unknown_property(words[0], entity.type_name)
        order.append((words[0], len(words) == 2 and words[1].lower() == "desc"))
    return order


def sort_records(
    records: list[dict[str, Any]], order: list[tuple[str, bool]], get: Callable[..., Any]
) -> None:
    """Stable multi-key sort; nulls sort first ascending (and last descending), as in SQL Server."""
    for prop, descending in reversed(order):

        def key(record: dict[str, Any], prop: str = prop) -> tuple[int, Any]:
            value = get(record, prop)
            if value is None:
                return (0, 0)
            return (1, value.lower() if isinstance(value, str) else value)

        records.sort(key=key, reverse=descending)


def parse_top(text: str | None) -> int | None:
    if text is None:
        return None
    if not text.strip().isdigit():
        raise DataverseFault.bad_request(
            f"Invalid value '{text}' for $top query option.", QUERY_NOT_SUPPORTED
        )
    return int(text)


@dataclass(frozen=True, slots=True)
class Expansion:
    navigation: str
    select: str | None = None
    filter: str | None = None
    orderby: str | None = None
    top: str | None = None


def parse_expand(text: str | None) -> list[Expansion]:
    if not text:
        return []
    expansions: list[Expansion] = []
    for item in _split_top_level(text, ","):
        item = item.strip()
        name, paren, rest = item.partition("(")
        name = name.strip()
        options: dict[str, str] = {}
        if paren:
            if not rest.endswith(")"):
                raise DataverseFault.bad_request(f"Syntax error in $expand '{text}'.", QUERY_NOT_SUPPORTED)
            for option in _split_top_level(rest[:-1], ";"):
                key, equals, value = option.partition("=")
                key = key.strip().lower()
                if not equals or key not in ("$select", "$filter", "$orderby", "$top"):
                    raise DataverseFault.bad_request(
                        f"Query option '{key}' is not supported inside $expand by the simulator.",
                        QUERY_NOT_SUPPORTED,
                    )
                options[key[1:]] = value.strip()
        if not name:
            raise DataverseFault.bad_request(f"Syntax error in $expand '{text}'.", QUERY_NOT_SUPPORTED)
        expansions.append(Expansion(navigation=name, **options))
    return expansions


def _split_top_level(text: str, separator: str) -> list[str]:
    parts: list[str] = []
    depth = 0
    quoted = False
    current: list[str] = []
    for char in text:
        if char == "'":
            quoted = not quoted
        elif not quoted and char == "(":
            depth += 1
        elif not quoted and char == ")":
            depth -= 1
        if char == separator and depth == 0 and not quoted:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    parts.append("".join(current))
    return [part for part in parts if part.strip()]
