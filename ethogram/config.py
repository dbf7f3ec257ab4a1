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
    tensorboard: bool = False  # also TensorBoard event files in RUN_DIR/tensorboard (metrics.csv always)
    drop_falls: int = 0  # > 0: learn from each episode only up to this many states before the robot first falls
    # (the ant: on its back, envs/ant.py fallen_qpos), data/dataset.py cut_falls; 0: every state, as published


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


MAX_SEED = 2**32 - 1  # numpy's and JAX's seeds are 32-bit

# Ranges the algorithms require, by field name (a field an agent has is checked wherever it appears):
# (low, high, low inclusive, high inclusive).
RANGES = {
    "discount": (0.0, 1.0, False, False),
    "expectile": (0.0, 1.0, False, False),
    "q_expectile": (0.0, 1.0, False, False),
    "tau": (0.0, 1.0, False, True),  # Polyak rate
    "lr": (0.0, float("inf"), False, False),
    "alpha": (0.0, float("inf"), True, False),
    "low_alpha": (0.0, float("inf"), True, False),
    "high_alpha": (0.0, float("inf"), True, False),
    "eps": (0.0, float("inf"), False, False),
}
POSITIVE = ("batch_size", "latent_dim", "subgoal_steps", "rep_dim", "dim_per_component")


def _range_text(lo, hi, lo_in, hi_in) -> str:
    return f"{'[' if lo_in else '('}{lo:g}, {hi:g}{']' if hi_in else ')'}"


def validate_train_config(tc: TrainConfig) -> None:
    if tc.steps < 1:
        raise EthogramError(f"--steps must be at least 1 (got {tc.steps}).")
    for k in ("fuse", "log_every", "eval_episodes", "save_every"):
        if getattr(tc, k) < 1:
            raise EthogramError(f"{k} must be at least 1 (got {getattr(tc, k)}).",
                                f"give --{k.replace('_', '-')} a positive integer")
    if tc.eval_every < 0:
        raise EthogramError(f"eval_every must be >= 0 (got {tc.eval_every}).")
    if not 0 <= tc.drop_falls <= 10**6:
        raise EthogramError(f"--drop-falls must be in [0, 1000000] states (got {tc.drop_falls}).",
                            "give the states to drop before each fall, e.g. --drop-falls 25, or 0 for none")
    if not 0 <= tc.seed <= MAX_SEED:
        raise EthogramError(f"seed must be in [0, 2**32 - 1] (got {tc.seed}).")
    if tc.steps > 10**10:
        raise EthogramError(f"--steps {tc.steps} is beyond any training budget (at most 10**10).")


def validate_agent_config(config) -> None:
    """Goal mixtures, the ranges the algorithms require (RANGES, POSITIVE), and a memory estimate."""
    try:
        config.value_mix, config.actor_mix  # noqa: B018 (validates the goal mixtures)
    except ValueError as e:
        raise EthogramError(f"invalid goal mixture: {e}.") from None
    for f in dataclasses.fields(config):
        v = getattr(config, f.name)
        if f.name in RANGES:
            lo, hi, lo_in, hi_in = RANGES[f.name]
            ok = (lo <= v if lo_in else lo < v) and (v <= hi if hi_in else v < hi)
            if not ok:
                raise EthogramError(f"config field '{f.name}' must be in {_range_text(*RANGES[f.name])} "
                                    f"(got {v!r}).", f"for example --set {f.name}={getattr(type(config)(), f.name)}"
                                    " (the published value)")
        if f.name in POSITIVE and v < 1:
            raise EthogramError(f"config field '{f.name}' must be at least 1 (got {v!r}).")
    _check_memory(config)


def _check_memory(config) -> None:
    """Parameters (x4: weights, targets, two Adam moments) and activations of one batch (x8: forward, backward,
    several networks), as float32, must fit in half the machine's memory."""
    from ethogram.io import check_memory

    widths = [w for f in dataclasses.fields(config) if isinstance(v := getattr(config, f.name), tuple)
              and f.name.endswith("dims") for w in v]
    if not widths:
        return
    params = sum(a * b for a, b in zip(widths, widths[1:], strict=False)) + sum(widths) * 64
    activations = config.batch_size * sum(widths)
    check_memory(4 * (4 * params + 8 * activations), f"training with batch_size {config.batch_size} and networks "
                 f"of widths {sorted(set(widths))}", "use a smaller --set batch_size or smaller hidden dims")
