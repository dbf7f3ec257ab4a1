"""Configs: the training config, `--set key=value` overrides, the JSON round trip and validation.

Configs are frozen dataclasses (agents/base.py `AgentConfig` and each agent's `Config`, `TrainConfig` here).
pydantic validates them in place, without turning them into models: in lax mode for overrides (`--set
batch_size=256` from the command line, or typed values from Python), in strict mode for saved JSON (a string where
a number belongs, a float where an int belongs, an unknown field: all refused). pydantic was chosen over tyro and
draccus because those generate a command line, and ethogram's commands keep their own argparse front end; the
one thing needed here is type-checked construction of existing dataclasses, which is what pydantic's TypeAdapter
does for stdlib dataclasses.
"""

from __future__ import annotations

import dataclasses
import json
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any, ClassVar

from pydantic import ConfigDict, TypeAdapter, ValidationError

from ethogram.errors import EthogramError

SET_EXAMPLE = "for example --set batch_size=256 --set actor_hidden_dims=256,256"


@dataclass(frozen=True)
class TrainConfig:
    __pydantic_config__: ClassVar = ConfigDict(extra="forbid", allow_inf_nan=False)

    steps: int = 1_000_000
    seed: int = 0
    fuse: int = 100  # training steps per jitted call
    log_every: int = 1000
    eval_every: int = 100_000  # 0: no periodic evaluation (run `ethogram eval` after training)
    eval_episodes: int = 50
    save_every: int = 100_000


@cache
def _adapter(cls) -> TypeAdapter:
    return TypeAdapter(cls)


def _describe(err: ValidationError, cls, given: Mapping) -> str:
    parts = []
    for e in err.errors():
        field = ".".join(str(x) for x in e["loc"]) or "(config)"
        top = e["loc"][0] if e["loc"] else None
        value = given.get(top, e.get("input")) if isinstance(top, str) else e.get("input")
        parts.append(f"'{field}' {e['msg'].lower()} (got {value!r})")
    return f"invalid {cls.__name__} of {cls.__module__}: " + "; ".join(parts)


def _unknown(cls, keys) -> None:
    fields = [f.name for f in dataclasses.fields(cls)]
    unknown = sorted(set(keys) - set(fields))
    if unknown:
        raise EthogramError(f"unknown config field{'s' if len(unknown) > 1 else ''} "
                            f"{', '.join(repr(k) for k in unknown)} for {cls.__module__.split('.')[-1]}.",
                            f"known fields: {', '.join(sorted(fields))}")


def _from_text(cls, key: str, text: str):
    """A `--set` string as the Python value pydantic should validate for the field: tuples are comma-separated."""
    hint = typing.get_type_hints(cls)[key]
    if typing.get_origin(hint) is tuple and isinstance(text, str):
        parts = [p.strip() for p in text.strip("()[] ").split(",")]
        return [p for p in parts if p]
    return text


def apply_overrides(config, overrides: Mapping[str, Any] | None):
    """`config` with fields replaced: values are `--set` strings ("256,256") or typed Python values ((256, 256)).

    Every value is validated against the field's type; a wrong one is a clear error naming the field."""
    overrides = dict(overrides or {})
    cls = type(config)
    _unknown(cls, overrides)
    values = {k: _from_text(cls, k, v) for k, v in overrides.items()}
    data = {**{f.name: getattr(config, f.name) for f in dataclasses.fields(cls)}, **values}
    try:
        return _check_sizes(_adapter(cls).validate_python(data), SET_EXAMPLE)
    except ValidationError as e:
        hints = typing.get_type_hints(cls)
        bad = [(str(x["loc"][0]), x["msg"]) for x in e.errors() if x["loc"] and str(x["loc"][0]) in overrides]
        if not bad:
            raise EthogramError(_describe(e, cls, overrides), SET_EXAMPLE) from None
        problems = "; ".join(f"cannot set {k}={overrides[k]!r}: expected {_type_name(hints[k])} ({msg.lower()})"
                             for k, msg in dict(bad).items())
        raise EthogramError(problems + ".", SET_EXAMPLE) from None


def _type_name(hint) -> str:
    if typing.get_origin(hint) is tuple:
        return "a comma-separated list of positive integers"
    return getattr(hint, "__name__", str(hint))


def _check_sizes(config, fix: str | None = None):
    """Network sizes (the tuple[int, ...] fields) are non-empty lists of positive integers."""
    for f in dataclasses.fields(config):
        v = getattr(config, f.name)
        if isinstance(v, tuple) and (not v or any(x < 1 for x in v)):
            raise EthogramError(f"config field '{f.name}' must be a non-empty list of positive integers, got "
                                f"{list(v)}.", fix)
    return config


def to_dict(config) -> dict:
    """The JSON form of a config (tuples become lists)."""
    return _adapter(type(config)).dump_python(config, mode="json")


def config_from_dict(cls, data):
    """A config dataclass from saved JSON, strictly: unknown fields and wrong types are clear errors."""
    if not isinstance(data, Mapping):
        raise EthogramError(f"a saved {cls.__name__} must be a JSON object, got {type(data).__name__}.")
    _unknown(cls, data)
    try:
        text = json.dumps(dict(data), allow_nan=False)
    except (TypeError, ValueError) as e:
        raise EthogramError(f"a saved {cls.__name__} holds a value that is not JSON ({e}).") from None
    try:  # JSON mode: arrays are tuples, objects are the dataclass; strict: no "5" for 5, no 5.0 for an int
        return _check_sizes(_adapter(cls).validate_json(text, strict=True))
    except ValidationError as e:
        raise EthogramError(_describe(e, cls, data)) from None


def parse_set_args(items: list[str] | None) -> dict[str, str]:
    out = {}
    for item in items or []:
        if "=" not in item:
            raise EthogramError(f"--set expects KEY=VALUE, got {item!r}.", "for example --set batch_size=256")
        k, v = item.split("=", 1)
        out[k.strip()] = v.strip()
    return out


def validate_train_config(tc: TrainConfig) -> None:
    if tc.steps < 1:
        raise EthogramError(f"--steps must be at least 1 (got {tc.steps}).")
    for k in ("fuse", "log_every", "eval_episodes", "save_every"):
        if getattr(tc, k) < 1:
            raise EthogramError(f"{k} must be at least 1 (got {getattr(tc, k)}).")
    if tc.eval_every < 0:
        raise EthogramError(f"eval_every must be >= 0 (got {tc.eval_every}).")
    if tc.seed < 0:
        raise EthogramError(f"seed must be >= 0 (got {tc.seed}).")


def validate_agent_config(config) -> None:
    try:
        config.value_mix, config.actor_mix  # noqa: B018 (validates the goal mixtures)
    except ValueError as e:
        raise EthogramError(f"invalid goal mixture: {e}.") from None
    if config.batch_size < 1 or config.lr <= 0 or not 0 < config.discount < 1:
        raise EthogramError("batch_size must be >= 1, lr > 0 and 0 < discount < 1.")
