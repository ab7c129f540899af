"""Generate the case-file reference (docs/case_reference.md) from the pydantic schema."""

from __future__ import annotations

import typing

from pydantic import BaseModel
from pydantic_core import PydanticUndefined


def _type_name(ann) -> str:
    origin = typing.get_origin(ann)
    if origin is typing.Literal:
        return " or ".join(repr(a) for a in typing.get_args(ann))
    if origin is typing.Union or str(origin) == "types.UnionType":
        return " or ".join(_type_name(a) for a in typing.get_args(ann) if a is not type(None)) + (
            " (optional)" if type(None) in typing.get_args(ann) else "")
    if origin is typing.Annotated:
        return _type_name(typing.get_args(ann)[0])
    return getattr(ann, "__name__", str(ann))


def _constraints(field) -> str:
    out = []
    for m in field.metadata:
        for attr, sym in (("gt", ">"), ("ge", ">="), ("lt", "<"), ("le", "<=")):
            v = getattr(m, attr, None)
            if v is not None:
                out.append(f"{sym} {v}")
    return ", ".join(out)


def _section(model: type[BaseModel], title: str, lines: list[str], seen: set) -> None:
    if model in seen:
        return
    seen.add(model)
    lines.append(f"\n## `{title}`\n")
    doc = (model.__doc__ or "").strip()
    if doc:
        lines.append(doc + "\n")
    lines.append("| key | type | default | allowed | meaning |")
    lines.append("|---|---|---|---|---|")
    nested = []
    for name, f in model.model_fields.items():
        default = "required" if f.default is PydanticUndefined and f.default_factory is None else (
            "(section)" if f.default_factory is not None else repr(f.default))
        lines.append(f"| `{name}` | {_type_name(f.annotation)} | {default} | {_constraints(f)} | "
                     f"{(f.description or '').replace('|', '/')} |")
        for a in [f.annotation, *typing.get_args(f.annotation)]:
            for b in [a, *typing.get_args(a)]:
                if isinstance(b, type) and issubclass(b, BaseModel):
                    nested.append((b, name))
    for sub, name in nested:
        kind = sub.model_fields.get("kind")
        label = f"{name}" + (f" (kind = {typing.get_args(kind.annotation)[0]!r})" if kind is not None else "")
        _section(sub, label, lines, seen)


def case_reference_markdown() -> str:
    from .case import case_models

    lines = [
        "# Case file reference",
        "",
        "Generated from the schema in `cellsim/case/` and `cellsim/geometry/spec.py` by",
        "`cellsim schema > docs/case_reference.md`; a test keeps it in step. Units are SI.",
        "Unknown keys are errors (the closest valid key is suggested).",
    ]
    seen: set = set()
    for name, model in case_models().items():
        _section(model, f"model = {name!r}: top level", lines, seen)
    return "\n".join(lines) + "\n"
