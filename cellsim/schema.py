"""Base classes and error formatting for case-file validation (no DOLFINx import).

Every section of a case file is a :class:`StrictModel`: unknown keys are rejected, NaN and
infinity are rejected for every number, and :func:`format_validation_error` turns pydantic's
errors into lines that name the key (dotted path), the value given (shortened), what is
allowed, and for a misspelt key the closest valid one. Case files are validated in strict
mode (:func:`cellsim.case.case_from_dict`): a boolean or a string is never taken as a number
(integers are accepted for real numbers).
"""

from __future__ import annotations

import difflib
import re
import typing
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError


class StrictModel(BaseModel):
    """A case-file section: unknown keys are errors, values are validated on assignment."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, frozen=False, allow_inf_nan=False)


class CaseError(ValueError):
    """A case file that cannot be run; the message lists every problem, one per line."""


def _model_at(model: type[BaseModel] | None, path: tuple) -> type[BaseModel] | None:
    """The pydantic model class that owns the key at ``path`` (for key suggestions)."""
    import typing

    cur = model
    for part in path:
        if cur is None or not isinstance(part, str):
            continue
        field = cur.model_fields.get(part)
        if field is None:
            return None
        ann = field.annotation
        cands = [ann]
        origin = typing.get_origin(ann)
        if origin is not None:
            cands = list(typing.get_args(ann))
            if typing.get_origin(cands[0]) is not None:  # Annotated[Union[...], ...]
                cands = list(typing.get_args(cands[0]))
        nxt = None
        for c in cands:
            if isinstance(c, type) and issubclass(c, BaseModel):
                nxt = c
                break
        cur = nxt
    return cur


def _union_members(model: type[BaseModel] | None, path: tuple) -> list[type[BaseModel]]:
    import typing

    if model is None or not path:
        return []
    parent = _model_at(model, path[:-1]) if len(path) > 1 else model
    if parent is None or not isinstance(path[-1], str):
        return []
    field = parent.model_fields.get(path[-1])
    if field is None:
        return []

    def flatten(t):
        out = []
        for a in typing.get_args(t) or ():
            if isinstance(a, type) and issubclass(a, BaseModel):
                out.append(a)
            else:
                out.extend(flatten(a))
        return out

    return flatten(field.annotation)


#: at most this many problems are listed (the message stays on one screen)
MAX_PROBLEMS = 20
#: longest line of a message; longer ones (a value or key echoed) are cut
MAX_LINE = 300


def cap(text: str, limit: int = MAX_LINE) -> str:
    """``text`` cut to ``limit`` characters (with '...') and control characters escaped, for
    echoing user input to a terminal."""
    text = str(text)
    if not text.isprintable():
        text = "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def format_validation_error(exc: ValidationError, root: type[BaseModel] | None = None, prefix: str = "") -> str:
    """Human-readable lines for a pydantic ValidationError (at most MAX_PROBLEMS lines)."""
    lines = []
    errors = exc.errors(include_url=False)
    for err in errors[:MAX_PROBLEMS]:
        loc = tuple(err.get("loc", ()))
        # drop the discriminator tag pydantic inserts for tagged unions
        clean = _clean_loc(root, loc) if root is not None else list(loc)
        key = prefix + ".".join(str(p) for p in clean) if clean else (prefix.rstrip(".") or "<case>")
        key = cap(key, 120)
        etype = err.get("type", "")
        value = err.get("input")
        if etype == "extra_forbidden":
            bad = cap(str(clean[-1]), 60)
            owner = _owner_for_loc(root, loc[:-1]) if root is not None else None
            valid = list(owner.model_fields) if owner is not None else []
            if not valid:
                for m in _union_members(root, tuple(clean[:-1])):
                    valid.extend(k for k in m.model_fields if k not in valid)
            close = difflib.get_close_matches(bad, valid, n=1, cutoff=0.5)
            hint = f"; did you mean '{close[0]}'?" if close else ""
            allowed = f" Valid keys here: {', '.join(sorted(valid))}." if valid else ""
            lines.append(f"{key}: unknown key{hint}{allowed}")
        elif etype == "union_tag_invalid":
            ctx = err.get("ctx", {})
            tag, expected = ctx.get("tag"), str(ctx.get("expected_tags", ""))
            allowed = [t.strip().strip("'") for t in expected.split(",") if t.strip()]
            disc = ctx.get("discriminator", "'kind'").strip("'")
            close = difflib.get_close_matches(cap(tag, 60), allowed, n=1, cutoff=0.5)
            hint = f"; did you mean '{close[0]}'?" if close else ""
            lines.append(f"{key}.{disc} = {_show(tag)}: unknown {disc}{hint} Allowed: {', '.join(allowed)}.")
        elif etype == "union_tag_not_found":
            disc = str(err.get("ctx", {}).get("discriminator", "'kind'")).strip("'")
            tags = []
            for m in _walk(root, loc)[1] if root is not None else []:
                f = m.model_fields.get(disc) if isinstance(m, type) and issubclass(m, BaseModel) else None
                tags.extend(str(t) for t in (typing.get_args(f.annotation) if f is not None else ()))
            allowed = f" Allowed: {', '.join(tags)}." if tags else ""
            lines.append(f"{key}.{disc}: required key is missing.{allowed}")
        elif etype == "missing" and clean and isinstance(clean[-1], int):
            lines.append(f"{key}: missing array entry (the array is too short)")
        elif etype == "missing":
            lines.append(f"{key}: required key is missing")
        else:
            msg = err.get("msg", "invalid value")
            if msg.startswith("Value error, "):
                msg = msg[len("Value error, "):]
            if etype == "int_parsing" or etype == "int_type":
                msg += " (a whole number without a decimal point)"
            if etype in _BOUND_WORDS and "ctx" in err:
                limit = next(iter(err["ctx"].values()))
                msg = f"Input should be {_BOUND_WORDS[etype]} {_num(limit)}" + _allowed(root, loc)
            if etype == "value_error" and isinstance(value, dict):  # a check of a whole section
                lines.extend(_section_lines(key, msg, root))
            else:
                lines.append(f"{key} = {_show(value)}: {msg}")
    lines = [cap(x) for x in lines]
    if len(errors) > MAX_PROBLEMS:
        lines.append(f"... and {len(errors) - MAX_PROBLEMS} more problems")
    return "\n".join(lines)


_BOUND_WORDS = {"greater_than": "greater than", "greater_than_equal": "greater than or equal to",
                "less_than": "less than", "less_than_equal": "less than or equal to"}


def _num(x) -> str:
    return f"{x:g}" if isinstance(x, float) else str(x)


def _allowed(root, loc) -> str:
    """'; allowed: lo < value <= hi' from the field's bounds (empty where unknown)."""
    if root is None or not loc or not isinstance(loc[-1], str):
        return ""
    owner = _owner_for_loc(root, loc[:-1]) if len(loc) > 1 else root
    field = owner.model_fields.get(loc[-1]) if owner is not None else None
    if field is None:
        return ""
    b = {}
    for m in field.metadata:
        for attr in ("gt", "ge", "lt", "le"):
            if getattr(m, attr, None) is not None:
                b[attr] = getattr(m, attr)
    lo = f"{_num(b['gt'])} < " if "gt" in b else (f"{_num(b['ge'])} <= " if "ge" in b else "")
    hi = f" < {_num(b['lt'])}" if "lt" in b else (f" <= {_num(b['le'])}" if "le" in b else "")
    return f"; allowed: {lo}{loc[-1]}{hi}" if lo and hi else ""


_LEADING_KEY = re.compile(r"([A-Za-z_][\w]*)(?:\.[\w]+)*(?=\s*=|:|\[| \(| must\b| is\b)")


def _section_lines(key: str, msg: str, root) -> list[str]:
    """The lines of a section check's message, each naming its key with the full path.

    A line that starts with a key of the section (``radius = ...``) gets the section's
    path in front (``geometry.radius = ...``), without repeating the part the line
    already names (``radius_distribution: ...`` at ``geometry.radius_distribution``); one
    that starts with a top-level key (``stop.min_soc ...``) is kept; any other line is
    prefixed with ``key:``.
    """
    top = set(root.model_fields) if root is not None else set()
    parts = key.split(".")
    out = []
    for line in msg.splitlines() or [""]:
        m = _LEADING_KEY.match(line)
        if m and (key == "<case>" or m.group(1) in top):
            out.append(line)
        elif m:
            named = m.group(0).split(".")
            k = max((k for k in range(1, min(len(parts), len(named)) + 1) if parts[-k:] == named[:k]), default=0)
            head = ".".join(parts[:-k] if k else parts)
            out.append(f"{head}.{line}" if head else line)
        else:
            out.append(f"{key}: {line}")
    return out


def _model_candidates(ann) -> list:
    import typing

    if isinstance(ann, type) and issubclass(ann, BaseModel):
        return [ann]
    out = []
    for a in typing.get_args(ann):
        out.extend(_model_candidates(a))
    return out


def _tag_values(model) -> set:
    import typing

    vals = set()
    for f in model.model_fields.values():
        if typing.get_origin(f.annotation) is typing.Literal:
            vals.update(typing.get_args(f.annotation))
    return vals


def _owner_for_loc(root, loc) -> type[BaseModel] | None:
    """Walk a pydantic error location (tags included) to the model that owns its last key."""
    cur = root
    parts = list(loc)
    i = 0
    while i < len(parts) and cur is not None:
        part = parts[i]
        if not isinstance(part, str):
            i += 1
            continue
        field = cur.model_fields.get(part)
        if field is None:
            return None
        cands = _model_candidates(field.annotation)
        nxt = cands[0] if len(cands) == 1 else None
        if len(cands) > 1 and i + 1 < len(parts):
            for m in cands:
                if parts[i + 1] in _tag_values(m):
                    nxt = m
                    i += 1  # skip the tag
                    break
        cur = nxt
        i += 1
    return cur


def _show(value: Any) -> str:
    """A short form of a value for a message (never longer than 80 characters)."""
    if isinstance(value, dict):
        return "{...}"
    if isinstance(value, (list, tuple)) and len(value) > 8:
        return f"[... {len(value)} items]"
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 200:
        return f"<integer of about {int(value.bit_length() * 0.30103) + 1} digits>"
    try:
        r = repr(value)
    except (ValueError, RecursionError):  # e.g. an int over Python's digit limit
        r = f"<{type(value).__name__}>"
    return r if len(r) < 80 else r[:77] + "..."


def _unwrap(ann) -> list:
    """The alternatives of an annotation (Annotated and Optional removed)."""
    import typing

    origin = typing.get_origin(ann)
    if origin is typing.Annotated:
        return _unwrap(typing.get_args(ann)[0])
    if origin is typing.Union or str(origin) == "<class 'types.UnionType'>":
        out = []
        for a in typing.get_args(ann):
            if a is not type(None):
                out.extend(_unwrap(a))
        return out
    return [ann]


def _clean_loc(root, loc) -> list:
    """``loc`` without the tags pydantic inserts after a discriminated-union value."""
    return _walk(root, loc)[0]


def _walk(root, loc) -> tuple[list, list]:
    """Walk the schema along an error location: (the location without union tags, the
    alternative types of the value at its end).

    A part is dropped only where the value at the path so far is a union of several
    models and the part is one member's tag.
    """
    out = []
    alts = [root]
    i = 0
    while i < len(loc):
        part = loc[i]
        out.append(part)
        nxt = []
        for a in alts:
            origin = typing.get_origin(a)
            if isinstance(a, type) and issubclass(a, BaseModel) and isinstance(part, str):
                f = a.model_fields.get(part)
                if f is not None:
                    nxt.extend(_unwrap(f.annotation))
            elif origin in (list, tuple, set, frozenset) and isinstance(part, int):
                args = [x for x in typing.get_args(a) if x is not Ellipsis]
                if origin is tuple and len(args) > part:
                    nxt.extend(_unwrap(args[part]))
                elif args:
                    nxt.extend(_unwrap(args[0]))
            elif origin is dict:
                args = typing.get_args(a)
                if len(args) == 2:
                    nxt.extend(_unwrap(args[1]))
        alts = nxt
        models = [a for a in alts if isinstance(a, type) and issubclass(a, BaseModel)]
        if len(models) > 1 and i + 1 < len(loc) and isinstance(loc[i + 1], str):
            tagged = [m for m in models if loc[i + 1] in _tag_values(m)]
            if tagged:
                alts = tagged[:1]
                i += 1  # skip the tag
        i += 1
    return out, alts
