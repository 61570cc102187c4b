"""Queries in Nakama's (Bleve's) query-string syntax, parsed once and compiled to a Python
function over a document's string and numeric fields. The matchmaker matches tickets' properties
with them (`properties.<name>`), match listing matches authoritative matches' labels (`label.<path>`).

    +properties.region:europe -properties.mode:casual properties.rank:>=10 properties.rank:<=20
    +label.mode:ranked label.level:>=5

A query is clauses separated by spaces. A clause is `field:value` (or a bare `value`, which
matches any string field), prefixed by `+` (required), `-` (excluded) or nothing
(optional), and optionally suffixed by a boost `^2`. Values are a term (`europe`; `\\` escapes
a special character; `*` and `?` are wildcards), a quoted phrase (`"north america"`), a regular
expression (`/eu-.*/`), or a range (`>=10`, `>10`, `<=20`, `<20`; a quoted value gives a string
range). A plain number also matches a numeric field equal to it. `*` alone matches everything.

Fields are named with the caller's prefix (`properties.`, `label.`); other field names never
match. String fields are matched exactly (Nakama's keyword mapping): case matters, there is no
tokenisation.

Documents come in two shapes. The matchmaker's are single-valued (`{name: str}`,
`{name: float}`) and its queries are compiled for them (`parse(text)`). Labels (matches,
parties) are JSON: a field may hold many values, one per element of an array, as in Nakama's
label index (Bleve/bluge indexes each element of an array under the array's path). Their
queries are compiled with `multi=True` for documents of tuples (`{name: (str, ...)}`, built by
`label_fields`), and a clause matches when any of the field's values does:
`+label.convo_ids:c2` accepts `{"convo_ids": ["c1", "c2"]}`. The two shapes compile to separate
functions, so the matchmaker's are exactly what they were.

Like Bleve's query strings: every required clause must match and no excluded one; when there is
no required clause, at least one optional clause must match (a query of excluded clauses only
matches everything else). Otherwise optional clauses do not filter: they score, and callers
prefer the documents with the higher score.

Compilation: the structure of a query (which fields, which operators) becomes a Python function
once (cached); its values are passed to it as a tuple of constants, so the many tickets whose
queries differ only in their values (a skill range, a region) share one compiled function and no
value ever reaches generated code as text.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import orjson
import re2

_RE2_OPTIONS = re2.Options()
_RE2_OPTIONS.log_errors = False  # a player's bad pattern is their error, not a log line
MAX_QUERY_LENGTH = 4096
MAX_CLAUSES = 64
PROPERTIES = "properties."  # the matchmaker's field prefix

Props = dict[str, str]  # single-valued documents (the matchmaker's tickets)
Nums = dict[str, float]
Strings = dict[str, tuple[str, ...]]  # multi-valued documents (labels): `parse(..., multi=True)`
Numbers = dict[str, tuple[float, ...]]
# (strings, numbers) -> bool: Props/Nums, or Strings/Numbers for a query parsed with multi=True.
Predicate = Callable[[Any, Any], bool]
Scorer = Callable[[Any, Any], float]


# Query-string syntax of Lucene that Bleve's query strings (and these) do not have: refused rather
# than read as part of a term, where the query would silently match something else.
_UNSUPPORTED = {
    **dict.fromkeys("()", "grouping is"),
    **dict.fromkeys("[]{}", "bracketed ranges are"),
    "~": "fuzzy and proximity matching are",
}


class QueryError(ValueError):
    """The query cannot be parsed."""


@dataclass(frozen=True, slots=True)
class Clause:
    occur: str  # "+" required, "-" excluded, "" optional
    field: str | None  # property name (without "properties."), "" for a non-property field, None bare
    kind: str  # "eq", "range", "wild", "regex", "all"
    value: Any = None  # eq: the text; wild/regex: the pattern
    number: float | None = None  # eq: the value as a number, when it is one
    lo: Any = None
    hi: Any = None
    lo_incl: bool = True
    hi_incl: bool = True
    boost: float = 1.0


@dataclass(slots=True)
class Query:
    text: str
    clauses: list[Clause]
    match: Predicate = field(repr=False, default=lambda s, n: True)
    score: Scorer | None = field(repr=False, default=None)  # None: no optional clause scores
    # Derived once from the clauses (the matchmaker reads them for every ticket it serves):
    terms: tuple[tuple[str, str], ...] = field(init=False, repr=False, compare=False)
    range_fields: tuple[str, ...] = field(init=False, repr=False, compare=False)
    terms_only: bool = field(init=False, repr=False, compare=False)
    term_fields: tuple[str, ...] = field(init=False, repr=False, compare=False)  # sorted, once each
    term_values: tuple[str, ...] | None = field(init=False, repr=False, compare=False)  # None: contradictory
    bounds: dict[str, tuple[float, float]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.terms = tuple((c.field, c.value) for c in self.clauses if _is_required_term(c))  # type: ignore[misc]
        self.range_fields = tuple(
            dict.fromkeys(c.field for c in self.clauses if c.occur == "+" and c.kind == "range" and c.field)
        )
        self.terms_only = all(_is_required_term(c) for c in self.clauses)
        required: dict[str, str] = {}
        consistent = all(required.setdefault(f, v) == v for f, v in self.terms)
        self.term_fields = tuple(sorted(required))
        self.term_values = tuple(required[f] for f in self.term_fields) if consistent else None
        self.bounds = {}
        for name in {c.field for c in self.clauses if c.field}:
            bounds = self._bounds_of(name)
            if bounds != (-math.inf, math.inf):
                self.bounds[name] = bounds

    @property
    def required_terms(self) -> list[tuple[str, str]]:
        """(property, value) pairs a matching ticket must have as string properties. When
        `terms_only`, the query is exactly these: a document with all of them matches."""
        return list(self.terms)

    def numeric_bounds(self, name: str) -> tuple[float, float]:
        """The range the required clauses allow for numeric property `name` (-inf..inf if free)."""
        return self.bounds.get(name, _FREE)

    def _bounds_of(self, name: str) -> tuple[float, float]:
        lo, hi = -math.inf, math.inf
        for c in self.clauses:
            if c.occur != "+" or c.field != name:
                continue
            if c.kind == "range" and isinstance(c.lo, float | int | type(None)) and not isinstance(c.hi, str):
                if c.lo is not None:
                    lo = max(lo, float(c.lo))
                if c.hi is not None:
                    hi = min(hi, float(c.hi))
            elif c.kind == "eq" and c.number is not None:
                lo, hi = max(lo, c.number), min(hi, c.number)
        return lo, hi


_FREE = (-math.inf, math.inf)


def _is_required_term(c: Clause) -> bool:
    return c.occur == "+" and c.kind == "eq" and bool(c.field) and c.number is None


# -- parsing ---------------------------------------------------------------------------------------


def parse(text: str, prefix: str = PROPERTIES, *, multi: bool = False) -> Query:
    """Parse and compile `text`, whose fields are named `<prefix><name>`; raises `QueryError`
    naming the problem. With `multi`, the query is compiled for multi-valued documents
    (`label_fields`): a clause matches when any value of its field does."""
    if len(text) > MAX_QUERY_LENGTH:
        raise QueryError(f"query is longer than {MAX_QUERY_LENGTH} characters")
    clauses = _Parser(text, prefix).clauses()
    if len(clauses) > MAX_CLAUSES:
        raise QueryError(f"query has more than {MAX_CLAUSES} clauses")
    match, score = _compile(clauses, multi)
    return Query(text, clauses, match, score)


def label_fields(label: str) -> tuple[Strings, Numbers]:
    """A JSON label's fields for a query parsed with `multi=True`, by dotted path: strings and
    booleans (`"true"`/`"false"`) as strings, numbers as numbers. An array's elements are all
    values of the array's own path (`{"ids": ["a", "b"]}` -> `ids: ("a", "b")`; objects in it
    add their fields under that path, `{"p": [{"n": "x"}, {"n": "y"}]}` -> `p.n: ("x", "y")`),
    as Nakama's label index does. `null` adds nothing. A label that is not a JSON object has no
    fields. A field's numbers are sorted (ascending), so that a range reads one end."""
    try:
        value = orjson.loads(label) if label else None
    except orjson.JSONDecodeError:
        value = None
    strings: dict[str, list[str]] = {}
    numbers: dict[str, list[float]] = {}
    if isinstance(value, dict):
        for key, item in value.items():
            _collect(item, key, strings, numbers)
    return (
        {name: tuple(values) for name, values in strings.items()},
        {
            name: tuple(values) if len(values) == 1 else tuple(sorted(values))
            for name, values in numbers.items()
        },
    )


def _collect(value: Any, path: str, strings: dict[str, list[str]], numbers: dict[str, list[float]]) -> None:
    if isinstance(value, bool):
        strings.setdefault(path, []).append("true" if value else "false")
    elif isinstance(value, int | float):
        numbers.setdefault(path, []).append(float(value))
    elif isinstance(value, str):
        strings.setdefault(path, []).append(value)
    elif isinstance(value, dict):
        for key, item in value.items():
            _collect(item, f"{path}.{key}", strings, numbers)
    elif isinstance(value, list):
        for item in value:
            _collect(item, path, strings, numbers)


class _Parser:
    def __init__(self, text: str, prefix: str) -> None:
        self.s = text
        self.i = 0
        self.prefix = prefix

    def clauses(self) -> list[Clause]:
        out: list[Clause] = []
        s = self.s
        while True:
            while self.i < len(s) and s[self.i].isspace():
                self.i += 1
            if self.i >= len(s):
                return out
            out.append(self.clause())

    def clause(self) -> Clause:
        s = self.s
        occur = ""
        if s[self.i] in "+-":
            occur = s[self.i]
            self.i += 1
            if self.i >= len(s) or s[self.i].isspace():
                raise QueryError(f"nothing after {occur!r} at position {self.i}")
        start = self.i
        if s[self.i] == '"':
            # A bare phrase.
            value = self.quoted()
            return Clause(occur, None, "eq", value, _number(value), boost=self.boost())
        if s[self.i] == "/":
            raise QueryError(f"a regular expression needs a field, at position {start}")
        token = self.term()
        if self.i < len(s) and s[self.i] == ":":
            self.i += 1
            name = token
            prefix = self.prefix
            prop: str | None = name[len(prefix) :] if name.startswith(prefix) else ""
            if name.startswith(prefix) and not prop:
                raise QueryError(f"empty property name at position {start}")
            return self.value(occur, prop, start)
        boost = self.boost()
        if token == "*" and not occur:  # noqa: S105  # nosec B105 # a query term, not a secret
            return Clause("+", None, "all", boost=boost)
        if token == "*":  # noqa: S105  # nosec B105 # a query term, not a secret
            return Clause(occur, None, "all", boost=boost)
        if not token:
            raise QueryError(f"unexpected {s[self.i]!r} at position {self.i}")
        if _has_wildcard(token):
            return Clause(occur, None, "wild", _regex(_glob(token)), boost=boost)
        value = _unescape(token)
        return Clause(occur, None, "eq", value, _number(value), boost=boost)

    def value(self, occur: str, prop: str | None, start: int) -> Clause:
        s = self.s
        if self.i >= len(s) or s[self.i].isspace():
            raise QueryError(f"missing value after ':' at position {self.i}")
        c = s[self.i]
        if c == '"':
            text = self.quoted()
            return Clause(occur, prop, "eq", text, _number(text), boost=self.boost())
        if c == "/":
            end = self.i + 1
            while end < len(s) and s[end] != "/":
                end += 2 if s[end] == "\\" else 1
            if end >= len(s):
                raise QueryError(f"unterminated regular expression at position {self.i}")
            pattern = s[self.i + 1 : end].replace("\\/", "/")
            self.i = end + 1
            return Clause(occur, prop, "regex", _regex(pattern), boost=self.boost())
        if c in "<>":
            op = c
            self.i += 1
            if self.i < len(s) and s[self.i] == "=":
                op += "="
                self.i += 1
            if self.i >= len(s) or s[self.i].isspace():
                raise QueryError(f"missing value after {op!r} at position {self.i}")
            bound: Any
            if s[self.i] == '"':
                bound = self.quoted()
            else:
                raw = _unescape(self.term())
                num = _number(raw)
                if num is None:
                    raise QueryError(f"range value {raw!r} is not a number (quote it for a string range)")
                bound = num
            boost = self.boost()
            incl = op.endswith("=")
            if op.startswith(">"):
                return Clause(occur, prop, "range", lo=bound, lo_incl=incl, boost=boost)
            return Clause(occur, prop, "range", hi=bound, hi_incl=incl, boost=boost)
        token = self.term()
        if not token:
            raise QueryError(f"unexpected {s[self.i]!r} at position {self.i}")
        boost = self.boost()
        if token == "*":  # noqa: S105  # nosec B105 # a query term, not a secret
            return Clause(occur, prop, "wild", _regex(r"(?s:.*)\z"), boost=boost)
        if _has_wildcard(token):
            return Clause(occur, prop, "wild", _regex(_glob(token)), boost=boost)
        text = _unescape(token)
        return Clause(occur, prop, "eq", text, _number(text), boost=boost)

    def term(self) -> str:
        """Raw characters up to a space, ':' or '^' (backslash escapes kept for _unescape)."""
        s = self.s
        start = self.i
        while self.i < len(s):
            c = s[self.i]
            if c == "\\":
                if self.i + 1 >= len(s):
                    raise QueryError("query ends with a lone backslash")
                self.i += 2
                continue
            if c.isspace() or c in ':^"':
                break
            if c in _UNSUPPORTED:
                raise QueryError(
                    f"unexpected {c!r} at position {self.i}: {_UNSUPPORTED[c]} not supported"
                    " (escape it with a backslash to match it)"
                )
            self.i += 1
        return s[start : self.i]

    def quoted(self) -> str:
        s = self.s
        self.i += 1
        out: list[str] = []
        while self.i < len(s):
            c = s[self.i]
            if c == "\\" and self.i + 1 < len(s):
                out.append(s[self.i + 1])
                self.i += 2
                continue
            if c == '"':
                self.i += 1
                return "".join(out)
            out.append(c)
            self.i += 1
        raise QueryError("unterminated quoted phrase")

    def boost(self) -> float:
        s = self.s
        if self.i < len(s) and s[self.i] == "^":
            self.i += 1
            raw = self.term()
            num = _number(raw)
            if num is None or num < 0:
                raise QueryError(f"invalid boost {raw!r}")
            return num
        if self.i < len(s) and not s[self.i].isspace():
            raise QueryError(f"unexpected {s[self.i]!r} at position {self.i}")
        return 1.0


def _number(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def _has_wildcard(token: str) -> bool:
    i = 0
    while i < len(token):
        if token[i] == "\\":
            i += 2
            continue
        if token[i] in "*?":
            return True
        i += 1
    return False


def _glob(token: str) -> str:
    out: list[str] = []
    i = 0
    while i < len(token):
        c = token[i]
        if c == "\\" and i + 1 < len(token):
            out.append(re2.escape(token[i + 1]))
            i += 2
            continue
        out.append(".*" if c == "*" else "." if c == "?" else re2.escape(c))
        i += 1
    return "(?s:" + "".join(out) + r")\z"


def _regex(pattern: str) -> Any:
    """A compiled RE2 expression. RE2 runs in time linear in the text, so no query (they come
    from players) can make a match take long, as a backtracking engine's `(a+)+$` or
    `*a*a*a*b` would; it lacks backreferences and lookaround, as Bleve's (Go's) regexps do."""
    try:
        return re2.compile(pattern, _RE2_OPTIONS)
    except re2.error as exc:
        message = exc.args[0].decode() if exc.args and isinstance(exc.args[0], bytes) else str(exc)
        raise QueryError(f"invalid regular expression {pattern!r}: {message}") from None


def _unescape(token: str) -> str:
    return re.sub(r"\\(.)", r"\1", token)


# -- compiling ----------------------------------------------------------------------------------


def _compile(clauses: list[Clause], multi: bool = False) -> tuple[Predicate, Scorer | None]:
    shape: list[tuple[Any, ...]] = []
    consts: list[Any] = []
    for c in clauses:
        expr_shape, values = _term(c)
        shape.append((c.occur, expr_shape))
        consts.extend(values)
    match_fn, score_fn = _compiled_shape(tuple(shape), multi)
    k = tuple(consts)
    has_must = any(c.occur == "+" for c in clauses)
    scorer: Scorer | None = None
    if has_must and any(c.occur == "" for c in clauses):
        bound_score = score_fn

        def scorer(s: Props, n: Nums) -> float:
            return bound_score(s, n, k)

    if not clauses:
        return (lambda s, n: True), None
    bound = match_fn

    def match(s: Props, n: Nums) -> bool:
        return bound(s, n, k)

    return match, scorer


def _term(c: Clause) -> tuple[tuple[Any, ...], list[Any]]:
    """The clause's structure (part of the cache key) and the constants it reads, in order."""
    if c.kind == "all":
        return ("all",), []
    if c.field == "":
        return ("none",), []
    if c.kind == "eq":
        if c.field is None:
            return ("any_eq", c.number is not None), [c.value, c.number] if c.number is not None else [
                c.value
            ]
        if c.number is not None:
            return ("eq_num",), [c.field, c.value, c.number]
        return ("eq",), [c.field, c.value]
    if c.kind in ("wild", "regex"):
        if c.field is None:
            return ("any_re",), [c.value]
        return ("re",), [c.field, c.value]
    # range
    string_range = isinstance(c.lo, str) or isinstance(c.hi, str)
    return (
        "range",
        string_range,
        c.lo is not None,
        c.hi is not None,
        c.lo_incl,
        c.hi_incl,
    ), [c.field] + ([c.lo] if c.lo is not None else []) + ([c.hi] if c.hi is not None else [])


@lru_cache(maxsize=4096)
def _compiled_shape(
    shape: tuple[tuple[Any, ...], ...], multi: bool = False
) -> tuple[Callable[..., bool], Callable[..., float]]:
    """Generate `match(s, n, k)` and `score(s, n, k)` for a query structure, over single-valued
    documents or (`multi`) multi-valued ones."""
    pos = 0
    must: list[str] = []
    should: list[str] = []
    must_not: list[str] = []
    for occur, term in shape:
        expr, used = _expr_multi(term, pos) if multi else _expr(term, pos)
        pos += used
        {"+": must, "-": must_not, "": should}[occur].append(expr)
    parts: list[str] = []
    parts.extend(must)
    if must_not:
        parts.append("not (" + " or ".join(must_not) + ")")
    if should and not must:
        parts.append("(" + " or ".join(should) + ")")
    body = " and ".join(parts) if parts else "True"
    score_body = " + ".join(f"(1.0 if {e} else 0.0)" for e in should) if should else "0.0"
    namespace: dict[str, Any] = {
        "_nan": math.nan, "_no_number": (math.nan,), "_re_any": _re_any, "_in_any": _in_any,
    }  # fmt: skip
    source = f"def match(s, n, k):\n    return bool({body})\ndef score(s, n, k):\n    return {score_body}\n"
    exec(compile(source, "<query>", "exec"), namespace)  # noqa: S102  # nosec B102 # fixed fragments; values in k
    return namespace["match"], namespace["score"]


def _expr(term: tuple[Any, ...], p: int) -> tuple[str, int]:
    kind = term[0]
    if kind == "all":
        return "True", 0
    if kind == "none":
        return "False", 0
    if kind == "eq":
        return f"(s.get(k[{p}]) == k[{p + 1}])", 2
    if kind == "eq_num":
        return f"(s.get(k[{p}]) == k[{p + 1}] or n.get(k[{p}]) == k[{p + 2}])", 3
    if kind == "any_eq":
        if term[1]:
            return f"(k[{p}] in s.values() or k[{p + 1}] in n.values())", 2
        return f"(k[{p}] in s.values())", 1
    if kind == "re":
        return f"(k[{p}] in s and k[{p + 1}].match(s[k[{p}]]) is not None)", 2
    if kind == "any_re":
        return f"any(k[{p}].match(v) is not None for v in s.values())", 1
    _, string_range, has_lo, has_hi, lo_incl, hi_incl = term
    src = "s.get(k[{f}], None)" if string_range else "n.get(k[{f}], _nan)"
    value = src.format(f=p)
    used = 1
    conds: list[str] = []
    if string_range:
        conds.append(f"k[{p}] in s")
    if has_lo:
        conds.append(f"{value} {'>=' if lo_incl else '>'} k[{p + used}]")
        used += 1
    if has_hi:
        conds.append(f"{value} {'<=' if hi_incl else '<'} k[{p + used}]")
        used += 1
    return "(" + " and ".join(conds) + ")", used


def _expr_multi(term: tuple[Any, ...], p: int) -> tuple[str, int]:
    """`_expr` for multi-valued documents: `s[name]` and `n[name]` are tuples of values (numbers
    sorted ascending, see `label_fields`), and a clause matches when one of them does. A
    one-sided numeric range needs only the largest (`>=`, `>`) or smallest (`<=`, `<`) value; a
    missing field reads as `(nan,)`, which no comparison accepts."""
    kind = term[0]
    if kind == "all":
        return "True", 0
    if kind == "none":
        return "False", 0
    if kind == "eq":
        return f"(k[{p + 1}] in s.get(k[{p}], ()))", 2
    if kind == "eq_num":
        return f"(k[{p + 1}] in s.get(k[{p}], ()) or k[{p + 2}] in n.get(k[{p}], ()))", 3
    if kind == "any_eq":
        if term[1]:
            return f"(_in_any(k[{p}], s) or _in_any(k[{p + 1}], n))", 2
        return f"_in_any(k[{p}], s)", 1
    if kind == "re":
        return f"_re_any(k[{p + 1}], s.get(k[{p}], ()))", 2
    if kind == "any_re":
        return f"any(_re_any(k[{p}], v) for v in s.values())", 1
    _, string_range, has_lo, has_hi, lo_incl, hi_incl = term
    if not string_range and has_lo != has_hi:
        if has_lo:
            return f"(n.get(k[{p}], _no_number)[-1] {'>=' if lo_incl else '>'} k[{p + 1}])", 2
        return f"(n.get(k[{p}], _no_number)[0] {'<=' if hi_incl else '<'} k[{p + 1}])", 2
    used = 1
    conds: list[str] = []
    if has_lo:
        conds.append(f"x {'>=' if lo_incl else '>'} k[{p + used}]")
        used += 1
    if has_hi:
        conds.append(f"x {'<=' if hi_incl else '<'} k[{p + used}]")
        used += 1
    source = "s" if string_range else "n"
    return f"any({' and '.join(conds)} for x in {source}.get(k[{p}], ()))", used


def _re_any(pattern: Any, values: tuple[str, ...]) -> bool:
    # A loop rather than any(<generator>): no generator per document (listings call it per label).
    for x in values:  # noqa: SIM110
        if pattern.match(x) is not None:
            return True
    return False


def _in_any(value: Any, doc: dict[str, tuple[Any, ...]]) -> bool:
    for values in doc.values():  # noqa: SIM110 - as _re_any
        if value in values:
            return True
    return False
