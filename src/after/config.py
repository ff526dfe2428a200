"""Configuration is data: frozen dataclasses loaded from YAML, with ``--set key=value`` overrides.

Nested dataclasses are addressed with dots (``--set train.lr=3e-4``). Values given on the command line
are parsed as YAML scalars, so ``--set rounds=5`` is an int and ``--set strategy=random`` a string.
"""
from __future__ import annotations

import dataclasses
import json
import types
import typing
from pathlib import Path
from typing import Any, Mapping, TypeVar

import yaml

from after.atomic import atomic_write_text
from after.errors import AfterError

T = TypeVar("T")


class ConfigError(AfterError, ValueError):
    """An unknown key or an ill-typed value; the message names the key and the file."""


def require(ok: bool, key: str, value: Any, must: str) -> None:
    """Range check for a config dataclass' ``__post_init__``: ``ConfigError("key: value must ...")``.

    Loaded from a file, the key gets its section prefix and the file name (``head.max_epochs``)."""
    if not ok:
        raise ConfigError(f"{key}: {value!r} {must}")


def _coerce(tp: Any, value: Any, key: str) -> Any:
    origin = typing.get_origin(tp)
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, Mapping):
            raise ConfigError(f"{key}: expected a mapping of {tp.__name__} fields, got {value!r}")
        return _build(tp, value, prefix=key + ".")
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        for a in args:
            if a is type(None):
                continue
            try:
                return _coerce(a, value, key)
            except (ConfigError, TypeError, ValueError):
                continue
        raise ConfigError(f"{key}: {value!r} does not fit {tp}")
    if origin in (list, tuple, typing.Sequence):
        (inner, *_) = typing.get_args(tp) or (Any,)
        if isinstance(value, str):
            value = [v for v in value.split(",") if v]
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{key}: expected a list, got {value!r}")
        return tuple(_coerce(inner, v, key) for v in value)
    if origin is typing.Literal:
        if value not in typing.get_args(tp):
            raise ConfigError(f"{key}: {value!r} is not one of {typing.get_args(tp)}")
        return value
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(f"{key}: expected true/false, got {value!r}")
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{key}: expected an integer, got {value!r}")
        return value
    if tp is float:
        if isinstance(value, str):   # YAML 1.1 reads 3e-4 (no dot) as a string
            try:
                return float(value)
            except ValueError:
                pass
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{key}: expected a number, got {value!r}")
        return float(value)
    if tp is str:
        if value is None:   # YAML null / --set key=null: the empty string is this field's "none"
            raise ConfigError(f"{key}: expected a string, got null; to leave it empty write {key}: \"\" "
                              f"in YAML or --set {key}=")
        if not isinstance(value, (str, int, float)):
            raise ConfigError(f"{key}: expected a string, got {value!r}")
        return str(value)
    return value


def _build(cls: type[T], data: Mapping[str, Any], prefix: str = "") -> T:
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ConfigError(f"unknown key(s) {', '.join(prefix + u for u in unknown)}; "
                          f"known: {', '.join(prefix + f for f in fields)}")
    kwargs = {name: _coerce(hints[name], value, prefix + name) for name, value in data.items()}
    try:
        return cls(**kwargs)        # __post_init__ range checks name the bare key: add the section
    except ConfigError as exc:
        raise ConfigError(f"{prefix}{exc}") from None


def _set_dotted(tree: dict, dotted: str, value: Any) -> None:
    parts = dotted.split(".")
    node = tree
    for p in parts[:-1]:
        node = node.setdefault(p, {})
        if not isinstance(node, dict):
            raise ConfigError(f"--set {dotted}: {p} is not a section")
    node[parts[-1]] = value


def parse_overrides(items: list[str] | None) -> dict:
    """``["a.b=1", "c=x"]`` -> nested dict, values parsed as YAML scalars."""
    tree: dict = {}
    for item in items or []:
        if "=" not in item:
            raise ConfigError(f"--set {item!r}: expected key=value")
        key, raw = item.split("=", 1)
        try:
            value = yaml.safe_load(raw) if raw != "" else ""
        except yaml.YAMLError:
            raise ConfigError(f"--set {item!r}: the value is not valid YAML (quote it)") from None
        _set_dotted(tree, key.strip(), value)
    return tree


def _merge(base: dict, over: Mapping) -> dict:
    out = dict(base)
    for k, v in over.items():
        out[k] = _merge(out[k], v) if isinstance(v, Mapping) and isinstance(out.get(k), dict) else v
    return out


def load_config(cls: type[T], path: str | Path | None = None, overrides: list[str] | None = None) -> T:
    """Build ``cls`` from a YAML file (optional) and ``--set`` overrides.

    Relative paths inside the file are left as written; :func:`resolve_path` resolves them against the
    config file's folder.
    """
    data: dict = {}
    if path is not None:
        p = Path(path)
        if not p.is_file():
            raise ConfigError(f"{p}: config file not found")
        try:
            loaded = yaml.safe_load(p.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as exc:
            where = getattr(exc, "problem_mark", None)
            at = f", line {where.line + 1} column {where.column + 1}" if where is not None else ""
            raise ConfigError(f"{p}{at}: not valid YAML ({getattr(exc, 'problem', None) or exc}); correct it "
                              "and run the same command again") from None
        except UnicodeDecodeError as exc:
            raise ConfigError(f"{p}: not UTF-8 text (byte {exc.start}); save it as UTF-8") from None
        if not isinstance(loaded, dict):
            raise ConfigError(f"{p}: the top level must be a mapping of keys")
        data = loaded
    try:
        return _build(cls, _merge(data, parse_overrides(overrides)))
    except ConfigError as exc:
        where = f"{path}: " if path else ""
        raise ConfigError(f"{where}{exc}") from None


def resolve_path(value: str, config_path: str | Path | None) -> Path:
    """A path from a config: absolute as is, else relative to the config file's folder (or the cwd)."""
    p = Path(value).expanduser()
    if p.is_absolute() or config_path is None:
        return p
    return (Path(config_path).resolve().parent / p)


def config_to_dict(cfg: Any) -> dict:
    return json.loads(json.dumps(dataclasses.asdict(cfg), default=str))


def save_config(cfg: Any, path: str | Path) -> Path:
    """Write the resolved config (YAML) so every run directory says exactly what ran."""
    return atomic_write_text(path, yaml.safe_dump(config_to_dict(cfg), sort_keys=False))
