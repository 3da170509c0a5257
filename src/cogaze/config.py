"""Typed configuration: dataclasses loaded from YAML with dotlist overrides (BenchX style).

Every config schema is a (nested) dataclass whose fields carry ``metadata={"help": ...}``;
:func:`describe_config` lists keys, types, defaults and help. Unknown keys and wrong types are
rejected with a :class:`~cogaze.errors.ConfigError` naming the key and the allowed keys.

Every numeric field declares its allowed range (``help_field(..., ge=1)``, :class:`Range`); a value
outside it, NaN or infinity is a ConfigError naming the key, the value and the range
(``tests/test_config_ranges.py`` checks that no numeric key of a shipped schema lacks one).
"""

from __future__ import annotations

import dataclasses
import math
import typing
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TypeVar

import yaml
from omegaconf import OmegaConf
from omegaconf.errors import ConfigKeyError, OmegaConfBaseException, ValidationError

from cogaze.errors import ConfigError
from cogaze.io import atomic_write_text

T = TypeVar("T")


@dataclasses.dataclass(frozen=True)
class Range:
    """Allowed values of a numeric config key (bounds inclusive: ``ge``/``le``; exclusive: ``gt``/``lt``).

    For list keys the bounds apply to every element and ``min_items`` to the length. NaN and
    infinity are never allowed.
    """

    ge: float | None = None
    gt: float | None = None
    le: float | None = None
    lt: float | None = None
    min_items: int | None = None

    def contains(self, value: float) -> bool:
        """Whether a single number is finite and within the bounds."""
        if not math.isfinite(value):
            return False
        return not ((self.ge is not None and value < self.ge) or (self.gt is not None and value <= self.gt)
                    or (self.le is not None and value > self.le) or (self.lt is not None and value >= self.lt))

    def describe(self) -> str:
        """The range in words, e.g. ``>= 1`` or ``> 0 and <= 1``."""
        parts = [f"{op} {_num(v)}" for op, v in ((">=", self.ge), (">", self.gt), ("<=", self.le), ("<", self.lt))
                 if v is not None]
        return " and ".join(parts) if parts else "any finite number"


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() and abs(value) < 1e15 else f"{value:g}"


def help_field(default: Any = dataclasses.MISSING, help: str = "", *, ge: float | None = None,
               gt: float | None = None, le: float | None = None, lt: float | None = None,
               min_items: int | None = None, **kwargs: Any) -> Any:
    """A dataclass field with a help text (``default`` may be a value or, via kwargs, a factory).

    ``ge``/``gt``/``le``/``lt`` (and ``min_items`` for lists) declare the allowed range of a numeric
    key, checked by :func:`load_config` and :func:`check_ranges`.
    """
    metadata: dict[str, Any] = {"help": help}
    if any(v is not None for v in (ge, gt, le, lt, min_items)):
        metadata["range"] = Range(ge, gt, le, lt, min_items)
    if default is dataclasses.MISSING:
        return dataclasses.field(metadata=metadata, **kwargs)
    return dataclasses.field(default=default, metadata=metadata, **kwargs)


def field_range(f: dataclasses.Field) -> Range | None:
    """The declared :class:`Range` of a dataclass field (None if it has none)."""
    return f.metadata.get("range")


def _range_problem(key: str, value: Any, rng: Range) -> str | None:
    """Why ``value`` of config key ``key`` is outside ``rng`` (None when it is inside)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        if rng.contains(float(value)):
            return None
        return f"config key '{key}' = {value!r} is out of range: allowed {rng.describe()}"
    if isinstance(value, (list, tuple)):
        if rng.min_items is not None and len(value) < rng.min_items:
            return f"config key '{key}' = {list(value)!r} needs at least {rng.min_items} item(s)"
        for i, item in enumerate(value):
            if isinstance(item, (int, float)) and not isinstance(item, bool) and not rng.contains(float(item)):
                return (f"config key '{key}' = {list(value)!r}: item {i} ({item!r}) is out of range: allowed "
                        f"{rng.describe()}")
    if isinstance(value, dict):
        for name, item in value.items():
            if isinstance(item, (int, float)) and not isinstance(item, bool) and not rng.contains(float(item)):
                return f"config key '{key}.{name}' = {item!r} is out of range: allowed {rng.describe()}"
    return None


def _walk_ranges(schema: Any, values: Any, prefix: str = "") -> list[tuple[str, str]]:
    """(key, problem) for every value of the plain dict ``values`` outside its field's range in ``schema``;
    floats without a declared range must still be finite."""
    out: list[tuple[str, str]] = []
    if not dataclasses.is_dataclass(schema) or not isinstance(values, dict):
        return out
    for f in dataclasses.fields(schema):
        if f.name not in values:
            continue
        key, value = prefix + f.name, values[f.name]
        nested = _nested_schema(schema, f.name)
        if nested is not None:
            out.extend(_walk_ranges(nested, value, key + "."))
            continue
        rng = field_range(f) or Range()
        problem = _range_problem(key, value, rng)
        if problem:
            out.append((key, problem))
    return out


def check_ranges(cfg: Any, source: str = "config") -> None:
    """Raise ConfigError if any numeric key of the config dataclass ``cfg`` is outside its declared range
    (for configs built in code rather than by :func:`load_config`)."""
    problems = _walk_ranges(type(cfg), config_to_dict(cfg))
    if problems:
        raise ConfigError(f"{source}: {problems[0][1]}")


def _nested_schema(cls: Any, name: str) -> Any:
    """The dataclass type of field ``name`` of dataclass ``cls`` (None if not a dataclass field)."""
    if not dataclasses.is_dataclass(cls):
        return None
    hint = typing.get_type_hints(cls).get(name)
    return hint if dataclasses.is_dataclass(hint) else None


def _allowed_keys(schema: type, dotted: str) -> list[str]:
    """The field names of the dataclass that holds the last part of ``dotted``."""
    cls: Any = schema
    for part in [p for p in dotted.split(".")[:-1] if p]:
        nxt = _nested_schema(cls, part)
        if nxt is None:
            break
        cls = nxt
    return [f.name for f in dataclasses.fields(cls)] if dataclasses.is_dataclass(cls) else []


def _translate(err: OmegaConfBaseException, schema: type, source: str) -> ConfigError:
    key = getattr(err, "full_key", None) or getattr(err, "key", None) or ""
    key = str(key)
    if isinstance(err, ConfigKeyError) or "not in" in str(err):
        allowed = _allowed_keys(schema, key)
        return ConfigError(
            f"{source}: unknown config key '{key}'. Allowed keys here: {', '.join(allowed) or '(none)'}"
        )
    if isinstance(err, ValidationError):
        msg = str(err).splitlines()[0]
        return ConfigError(f"{source}: wrong type or value for config key '{key}': {msg}")
    return ConfigError(f"{source}: {str(err).splitlines()[0]}")


def load_config(schema: type[T], path: str | Path | None = None, overrides: Sequence[str] = ()) -> T:
    """Build a ``schema`` instance from its defaults, then a YAML file, then dotlist overrides.

    ``overrides`` are ``key.sub=value`` strings (values parsed as YAML). Raises ConfigError on
    unknown keys, wrong types, unreadable or malformed YAML.
    """
    base = OmegaConf.structured(schema)
    if path is not None:
        p = Path(path)
        if not p.is_file():
            raise ConfigError(f"config file not found: {p}")
        try:
            data = yaml.safe_load(p.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as err:
            raise ConfigError(f"{p}: malformed YAML: {err}") from None
        if not isinstance(data, dict):
            raise ConfigError(f"{p}: the top level must be a mapping of config keys")
        try:
            base = OmegaConf.merge(base, OmegaConf.create(data))
        except OmegaConfBaseException as err:
            raise _translate(err, schema, str(p)) from None
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"override {item!r} is not of the form key=value")
        key, _, raw = item.partition("=")
        try:
            value = yaml.safe_load(raw) if raw.strip() else ""
        except yaml.YAMLError:
            value = raw
        try:
            OmegaConf.update(base, key.strip(), value, merge=True, force_add=False)
            # OmegaConf.update on a struct config raises for unknown keys; validate the type now.
            OmegaConf.to_container(base, resolve=True)
        except OmegaConfBaseException as err:
            raise _translate(err, schema, f"override {item!r}") from None
    problems = _walk_ranges(schema, OmegaConf.to_container(base, resolve=True))
    range_error = None
    if problems:
        key, message = problems[0]
        range_error = ConfigError(f"{_source_of(key, path, overrides)}: {message}")
    try:  # a schema's own __post_init__ checks speak first (their messages are more specific) ...
        obj = OmegaConf.to_object(base)
    except ConfigError:
        raise
    except OmegaConfBaseException as err:
        raise range_error or _translate(err, schema, str(path or "config")) from None
    except Exception:  # ... but never a raw error from a value outside its declared range
        if range_error is not None:
            raise range_error from None
        raise
    if range_error is not None:
        raise range_error
    return obj  # type: ignore[return-value]


def _source_of(key: str, path: str | Path | None, overrides: Sequence[str]) -> str:
    """Where the value of ``key`` came from: the last override setting it, else the file, else the default."""
    for item in reversed(list(overrides)):
        name = item.partition("=")[0].strip()
        if name == key or key.startswith(name + "."):
            return f"override {item!r}"
    return str(path) if path is not None else "default value"


def config_to_dict(cfg: Any) -> dict[str, Any]:
    """A plain nested dict of a config dataclass (for JSON/YAML output)."""
    return OmegaConf.to_container(OmegaConf.structured(cfg), resolve=True)  # type: ignore[return-value]


def save_config(cfg: Any, path: str | Path) -> None:
    """Write ``cfg`` as YAML atomically (temp file + rename)."""
    atomic_write_text(path, yaml.safe_dump(config_to_dict(cfg), sort_keys=False))


def describe_config(schema: type, prefix: str = "") -> list[tuple[str, str, str, str]]:
    """Rows (key, type, default, help) for every leaf key of ``schema``, nested keys dotted."""
    rows: list[tuple[str, str, str, str]] = []
    hints = typing.get_type_hints(schema)
    for f in dataclasses.fields(schema):
        ftype = hints[f.name]
        key = prefix + f.name
        if dataclasses.is_dataclass(ftype):
            rows.extend(describe_config(ftype, key + "."))  # type: ignore[arg-type]
            continue
        if f.default is not dataclasses.MISSING:
            default = repr(f.default)
        elif f.default_factory is not dataclasses.MISSING:  # type: ignore[misc]
            default = repr(f.default_factory())  # type: ignore[misc]
        else:
            default = "(required)"
        tname = ftype.__name__ if isinstance(ftype, type) else str(ftype).replace("typing.", "")
        rows.append((key, tname, default, f.metadata.get("help", "")))
    return rows
