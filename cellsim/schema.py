"""Base classes and error formatting for case-file validation (no DOLFINx import).

Every section of a case file is a :class:`StrictModel`: unknown keys are rejected, and
:func:`format_validation_error` turns pydantic's errors into lines that name the key
(dotted path), the value given, what is allowed, and for a misspelt key the closest
valid one.
"""

from __future__ import annotations

import difflib
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError


class StrictModel(BaseModel):
    """A case-file section: unknown keys are errors, values are validated on assignment."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, frozen=False)


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


def format_validation_error(exc: ValidationError, root: type[BaseModel] | None = None, prefix: str = "") -> str:
    """Human-readable lines for a pydantic ValidationError."""
    lines = []
    for err in exc.errors(include_url=False):
        loc = tuple(err.get("loc", ()))
        # drop the discriminator tag pydantic inserts for tagged unions
        clean = []
        for i, part in enumerate(loc):
            if isinstance(part, str) and i > 0 and _is_tag(root, tuple(clean), part):
                continue
            clean.append(part)
        key = prefix + ".".join(str(p) for p in clean) if clean else (prefix.rstrip(".") or "<case>")
        etype = err.get("type", "")
        value = err.get("input")
        if etype == "extra_forbidden":
            bad = str(clean[-1])
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
            close = difflib.get_close_matches(str(tag), allowed, n=1, cutoff=0.5)
            hint = f"; did you mean '{close[0]}'?" if close else ""
            lines.append(f"{key}.{disc} = {tag!r}: unknown {disc}{hint} Allowed: {', '.join(allowed)}.")
        elif etype == "missing":
            lines.append(f"{key}: required key is missing")
        else:
            msg = err.get("msg", "invalid value")
            lines.append(f"{key} = {_show(value)}: {msg}")
    return "\n".join(lines)


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


def _is_tag(root, path, part) -> bool:
    members = _union_members(root, path) if root is not None and path else []
    for m in members:
        for name, f in m.model_fields.items():
            ann = f.annotation
            import typing

            if typing.get_origin(ann) is typing.Literal and part in typing.get_args(ann):
                return True
    return False


def _show(value: Any) -> str:
    if isinstance(value, dict):
        return "{...}"
    r = repr(value)
    return r if len(r) < 80 else r[:77] + "..."
