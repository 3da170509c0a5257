"""Typed configuration: dataclasses loaded from YAML with dotlist overrides (BenchX style).

Every config schema is a (nested) dataclass whose fields carry ``metadata={"help": ...}``;
:func:`describe_config` lists keys, types, defaults and help. Unknown keys and wrong types are
rejected with a :class:`~cogaze.errors.ConfigError` naming the key and the allowed keys.
"""

from __future__ import annotations

import dataclasses
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


def help_field(default: Any = dataclasses.MISSING, help: str = "", **kwargs: Any) -> Any:
    """A dataclass field with a help text (``default`` may be a value or, via kwargs, a factory)."""
    if default is dataclasses.MISSING:
        return dataclasses.field(metadata={"help": help}, **kwargs)
    return dataclasses.field(default=default, metadata={"help": help}, **kwargs)


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
    try:
        obj = OmegaConf.to_object(base)
    except OmegaConfBaseException as err:
        raise _translate(err, schema, str(path or "config")) from None
    return obj  # type: ignore[return-value]


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
