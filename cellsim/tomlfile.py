"""Reading a TOML case file defensively (no DOLFINx, no pydantic model).

Any malformed file (not UTF-8, not TOML, too large, an integer beyond Python's digit
limit, arrays nested thousands deep, dates, values no schema takes) raises
:class:`cellsim.schema.CaseError` with a short message naming the file or the key, never
another exception. Used by every reader of case files: :func:`cellsim.case.load_case`
and the geometry-only files of ``cellsim mesh``.
"""

from __future__ import annotations

import datetime as _dt
import re
import tomllib
from pathlib import Path

from .schema import CaseError, _show, cap

#: largest case file read [bytes]
MAX_FILE_BYTES = 4 * 2**20
#: deepest nesting of tables and arrays in a case (the schema needs 4)
MAX_DEPTH = 8
#: integers must fit in a signed 64-bit integer
MAX_INT = 2**63 - 1
#: longest array (explicit particle lists are the longest arrays of a case)
MAX_ITEMS = 10_000


def _line_col(text: str, pos: int) -> tuple[int, int]:
    line = text.count("\n", 0, pos) + 1
    return line, pos - (text.rfind("\n", 0, pos) + 1) + 1


def _key_on_line(line: str) -> str:
    m = re.match(r"\s*([^=\[\]]+?)\s*=", line)
    return f" (key {cap(m.group(1).strip(), 60)!r})" if m else ""


def parse_toml(raw: bytes, source: str = "<case>") -> dict:
    """Decode and parse the bytes of a TOML case file; CaseError for anything malformed."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        col = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        raise CaseError(f"{source}: not UTF-8 text: byte 0x{raw[exc.start]:02x} at line {line}, column {col}; "
                        "case files are TOML, which must be UTF-8") from None
    text = text.removeprefix("\ufeff")
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise CaseError(f"{source}: not valid TOML: {cap(exc, 200)}") from None
    except RecursionError:
        m = re.search(r"(?:[\[{]\s*){%d,}" % MAX_DEPTH, text)
        where = ""
        if m:
            line, _ = _line_col(text, m.start())
            where = f" at line {line}" + _key_on_line(text.splitlines()[line - 1])
        raise CaseError(f"{source}: arrays or inline tables nested too deeply{where}; case files nest at most "
                        f"{MAX_DEPTH} levels") from None
    except ValueError as exc:  # an integer beyond Python's int/str digit limit (4300 digits)
        m = re.search(r"[0-9_]{4300,}", text)
        where = ""
        if m:
            line, _ = _line_col(text, m.start())
            where = f" at line {line}" + _key_on_line(text.splitlines()[line - 1])
        raise CaseError(f"{source}: a number{where} has too many digits ({cap(exc, 80)}); integers must fit "
                        "in 64 bits") from None


def _key(path: tuple) -> str:
    parts = []
    for p in path:
        s = str(p)
        parts.append(s if s.isprintable() else repr(s))
    return cap(".".join(parts), 120) or "<case>"


def plain_problems(data) -> list[str]:
    """Problems of a case dict that no schema type accepts (nesting, dates, huge integers)."""
    problems = []
    stack = [((), data, 0)]
    while stack and len(problems) < 20:
        path, value, depth = stack.pop()
        if isinstance(value, (dict, list, tuple)):
            if depth >= MAX_DEPTH:
                problems.append(f"{_key(path)}: nested more than {MAX_DEPTH} levels deep; no key takes such "
                                "a value")
                continue
            if len(value) > MAX_ITEMS:
                problems.append(f"{_key(path)}: {len(value)} entries; at most {MAX_ITEMS} are accepted")
                continue
            items = value.items() if isinstance(value, dict) else enumerate(value)
            for k, v in items:
                if isinstance(value, dict) and not isinstance(k, str):
                    problems.append(f"{_key(path + (k,))}: keys must be strings")
                    continue
                stack.append((path + (k,), v, depth + 1))
        elif isinstance(value, (_dt.date, _dt.time)):  # datetime is a date
            problems.append(f"{_key(path)} = {cap(value, 40)}: a date or time is not a valid value for any key")
        elif isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_INT:
            problems.append(f"{_key(path)} = {_show(value)}: integer too large (at most {MAX_INT})")
        elif _is_numpy(value):
            stack.append((path, value.tolist(), depth))
        elif not isinstance(value, (str, int, float, bool)) and value is not None:
            problems.append(f"{_key(path)}: a {type(value).__name__} is not a case value")
    return problems


def _is_numpy(value) -> bool:
    """A numpy scalar or array (cases built in Python may hold them)."""
    return type(value).__module__ == "numpy" and hasattr(value, "tolist")


def _plain(value):
    """json.dumps fallback: numpy scalars and arrays as Python numbers and lists."""
    if _is_numpy(value):
        return value.tolist()
    raise TypeError(f"a {type(value).__name__} is not a case value")


def read_toml(path, check_values: bool = True) -> dict:
    """The table of a TOML case file, or CaseError naming the file (and the key, where one is
    at fault) for anything malformed (``check_values``: also values no schema takes)."""
    path = Path(path)
    try:
        if not path.is_file():
            raise CaseError(f"{path}: no such case file")
        with open(path, "rb") as fh:
            raw = fh.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise CaseError(f"{path}: cannot read: {exc.strerror or exc}") from None
    if len(raw) > MAX_FILE_BYTES:
        raise CaseError(f"{path}: larger than {MAX_FILE_BYTES // 2**20} MiB: not a case file")
    data = parse_toml(raw, str(path))
    problems = plain_problems(data) if check_values and isinstance(data, dict) else []
    if problems:
        raise CaseError(f"{path}: invalid case\n" + "\n".join(problems))
    return data
