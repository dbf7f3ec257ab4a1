"""The written contracts at the seams (agents/base.py, envs/base.py, rundir.py, evaluate/) hold, and the bugs
found where files met stay fixed."""

from __future__ import annotations

import ast
import dataclasses
import inspect
import json
import os
import re
import shutil
import stat
import sys
import tomllib
import types
import zipfile
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import NAVIGATE, collect_small

from ethogram import rundir
from ethogram.agents import AGENTS, gcbc, gcivl, hilp, hiql, qrl
from ethogram.agents.base import HOOKS, REQUIRED, AgentConfig, Spec, hook, make_policy
from ethogram.cli import build_parser, main
from ethogram.config import TrainConfig
from ethogram.data.dataset import load_dataset
from ethogram.errors import EthogramError
from ethogram.search.controllers import Learned

REPO = Path(__file__).resolve().parents[1]
PKG = REPO / "ethogram"
FIXTURE = Path(__file__).parent / "fixtures" / "legacy"
TINY = dict(actor_hidden_dims=(8, 8), batch_size=8)
TINY_VALUE = dict(TINY, value_hidden_dims=(8, 8))


def tiny_config(agent):
    fields = {f.name for f in dataclasses.fields(agent.Config)}
    extra = {"latent_dim": 16} if "latent_dim" in fields else {}
    return agent.Config(**{k: v for k, v in {**TINY_VALUE, **extra}.items() if k in fields})


# ------------------------------------------------------------------------------------------------ agents

@pytest.mark.parametrize("name", list(AGENTS))
def test_every_registered_agent_satisfies_the_agent_protocol(name):
    agent = AGENTS[name]
    for attr in REQUIRED:
        assert hasattr(agent, attr), f"{name} lacks {attr}"
    assert agent.NAME == name
    assert dataclasses.is_dataclass(agent.Config) and issubclass(agent.Config, AgentConfig)
    assert agent.Config.__dataclass_params__.frozen
    act = inspect.signature(agent.act).parameters
    assert list(act)[:4] == ["state", "observations", "goals", "config"] and act["key"].default is None
    assert list(inspect.signature(agent.init).parameters) == ["key", "spec", "config"]
    # Any optional ability is one of the documented hooks, never an ad-hoc attribute someone tests for.
    constants = {n for n, v in vars(agent).items() if n.isupper() and not isinstance(v, type)}
    undocumented = constants - set(HOOKS) - {"NAME"}
    assert not undocumented, undocumented
    config = tiny_config(agent)
    state = agent.init(jax.random.PRNGKey(0), Spec(3, 2), config)
    assert state["spec"] == Spec(3, 2)
    obs = jnp.ones((4, 3))
    for key in (None, jax.random.PRNGKey(1)):
        a = agent.act(state, obs, obs * 2, config, key)
        assert a.shape == (4, 2) and bool(jnp.all(jnp.abs(a) <= 1))
    if name in ("gcbc", "beso"):  # imitation only: an explicit refusal
        with pytest.raises(EthogramError, match="no value function"):
            agent.value(state, obs, obs, config)
    else:
        assert agent.value(state, obs, obs * 2, config).shape == (4,)


def test_the_state_spec_is_static_and_never_reaches_a_checkpoint(tmp_path):
    from ethogram import checkpoint

    config = tiny_config(gcivl)
    state = gcivl.init(jax.random.PRNGKey(0), Spec(2, 2), config)
    assert not any("spec" in k for k in checkpoint.flatten(state))
    checkpoint.save(tmp_path / "c.safetensors", state)
    loaded = checkpoint.load(tmp_path / "c.safetensors", gcivl.init(jax.random.PRNGKey(1), Spec(2, 2), config))
    assert loaded["spec"] == Spec(2, 2)
    policy = make_policy(gcivl, config, loaded)  # the jitted act reads the action size from the spec
    assert policy(np.zeros((3, 2), np.float32), np.ones((3, 2), np.float32)).shape == (3, 2)


def test_the_cli_lists_the_agents_of_the_registry():
    text = build_parser().format_help() + build_parser()._subparsers._group_actions[0].choices["train"].format_help()
    for name in AGENTS:
        assert name in text


def test_hook_refuses_a_name_that_is_not_a_documented_hook():
    assert hook(hilp, "phi") is hilp.phi and hook(gcivl, "phi") is None
    with pytest.raises(ValueError):
        hook(gcivl, "value_net")


# ------------------------------------------------------------------------------ bugs at the seams

def _pairs(n=6, seed=0):
    rng = np.random.default_rng(seed)
    return rng.uniform(-2, 20, (n, 2)).astype(np.float32), rng.uniform(-2, 20, (n, 2)).astype(np.float32)


def test_the_search_distance_of_a_qrl_controller_is_its_quasimetric_not_zero():
    config = tiny_config(qrl)
    state = qrl.init(jax.random.PRNGKey(0), Spec(2, 2), config)
    obs, goals = _pairs()
    d = Learned(qrl, config, state).distance(obs, goals)
    np.testing.assert_allclose(d, np.asarray(qrl.distance(state, jnp.asarray(obs), jnp.asarray(goals), config)),
                               rtol=1e-5)
    assert (d > 0).all()  # it was 0 for every pair: V = -d read as a discounted value clips to 0 steps


def test_the_search_distance_of_hiql_and_gcivl_controllers_comes_from_their_value():
    obs, goals = _pairs()
    for agent in (hiql, gcivl):
        config = tiny_config(agent)
        state = agent.init(jax.random.PRNGKey(0), Spec(2, 2), config)
        d = Learned(agent, config, state).distance(obs, goals)  # HIQL raised a flax shape error
        assert d.shape == (len(obs),) and np.isfinite(d).all() and (d >= 0).all()


def test_an_agent_without_a_step_distance_is_refused_as_a_search_controller():
    for agent in (gcbc, AGENTS["crl"], AGENTS["beso"]):
        config = tiny_config(agent)
        state = agent.init(jax.random.PRNGKey(0), Spec(2, 2), config)
        with pytest.raises(EthogramError, match="cannot use agent"):
            Learned(agent, config, state)


def test_hilp_honours_bfloat16_matmuls():
    obs = jnp.asarray(np.random.default_rng(0).uniform(-5, 20, (16, 2)), jnp.float32)
    config = hilp.Config(**TINY_VALUE, latent_dim=8)
    state = hilp.init(jax.random.PRNGKey(0), Spec(2, 2), config)
    bf16 = dataclasses.replace(config, matmul="bfloat16")
    assert not np.array_equal(np.asarray(hilp.phi(state, obs, config)), np.asarray(hilp.phi(state, obs, bf16)))


def test_reproduce_sets_network_sizes_by_type_not_by_name(monkeypatch):
    from ethogram.reproduce import Grid, agent_sets, validate_grid

    @dataclasses.dataclass(frozen=True)
    class Config(AgentConfig):
        denoiser_dims: tuple[int, ...] = (256, 256)

    fake = types.ModuleType("fake")
    fake.NAME, fake.Config = "fake", Config
    monkeypatch.setitem(AGENTS, "fake", fake)
    args = agent_sets("fake", Grid(agents=("fake",), datasets=(NAVIGATE,), hidden_dims=(64, 64)))
    assert "denoiser_dims=64,64" in args and "actor_hidden_dims=64,64" in args
    with pytest.raises(EthogramError, match="no agent of the sweep"):
        validate_grid(Grid(agents=("gcbc", "fake"), datasets=(NAVIGATE,), sets={"expectile": "0.8"}))


def test_every_third_party_import_is_a_declared_dependency():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    optional = [d for extra, ds in project["optional-dependencies"].items() if extra not in ("dev", "cuda") for d in ds]
    deps = project["dependencies"] + optional  # an optional extra's package is imported only where it is used
    declared = {re.split(r"[<>=\[ ]", d, maxsplit=1)[0].lower().replace("-", "_") for d in deps}
    provided = {"jax": "jax", "flax": "flax", "optax": "optax", "numpy": "numpy", "ogbench": "ogbench",
                "mujoco": "mujoco", "safetensors": "safetensors", "tqdm": "tqdm", "matplotlib": "matplotlib",
                "scipy": "scipy", "pydantic": "pydantic", "gymnasium": "gymnasium",
                "tensorboardX": "tensorboardx"}
    used = set()
    for path in PKG.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                used |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                used.add(node.module.split(".")[0])
    third = {m for m in used if m not in sys.stdlib_module_names and m != "ethogram"}
    for module in third:
        assert provided.get(module, module) in declared, f"{module} is imported but not in pyproject.toml"


def test_optional_extras_are_imported_only_where_they_are_used():
    """minari, tensorboardX and ray come with extras (pip install 'ethogram[minari]'): no module imports them at
    its top, so that everything else works without them."""
    for path in PKG.rglob("*.py"):
        for node in ast.parse(path.read_text()).body:
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            assert not any(n.split(".")[0] in ("minari", "tensorboardX", "ray") for n in names), path


def test_prepare_run_takes_typed_overrides_and_a_config_object(navigate_small, tmp_path):
    tc = TrainConfig(steps=10, fuse=10, log_every=10, eval_every=0, save_every=10)
    run = rundir.prepare_run("gcivl", navigate_small, tmp_path / "a", tc, {"actor_hidden_dims": (64, 64),
                                                                          "batch_size": 32})
    assert run["agent_config"]["actor_hidden_dims"] == [64, 64] and run["agent_config"]["batch_size"] == 32
    run = rundir.prepare_run("gcivl", navigate_small, tmp_path / "b", tc, gcivl.Config(batch_size=16))
    assert run["agent_config"]["batch_size"] == 16
    with pytest.raises(EthogramError, match="not a config of agent 'gcivl'"):
        rundir.prepare_run("gcivl", navigate_small, tmp_path / "c", tc, hilp.Config())
    with pytest.raises(EthogramError, match="batch_size"):
        rundir.prepare_run("gcivl", navigate_small, tmp_path / "d", tc, {"batch_size": "many"})
    assert not (tmp_path / "d" / "config.json").exists()


def test_a_resumed_run_keeps_lf_line_endings_and_its_clock(navigate_small, tmp_path):
    run = tmp_path / "run"
    common = ["--steps", "200", "--fuse", "50", "--log-every", "50", "--save-every", "100", "--eval-every", "0",
              "--quiet", "--set", "actor_hidden_dims=8,8", "--set", "value_hidden_dims=8,8", "--set", "batch_size=8"]
    assert main(["train", "gcivl", "--dataset", str(navigate_small), "--out", str(run), *common]) == 0
    rundir.save_checkpoint(run, rundir.restore(run, *rundir.load(run)), 100)  # as if killed after step 100
    (run / "checkpoint.json").write_text(json.dumps({"step": 100}) + "\n")
    assert main(["train", "--resume", str(run), "--quiet"]) == 0
    raw = (run / "metrics.csv").read_bytes()
    assert b"\r" not in raw
    walls = [float(r["wall_s"]) for r in rundir.csv_rows(run / "metrics.csv")]
    steps = [int(r["step"]) for r in rundir.csv_rows(run / "metrics.csv")]
    assert steps == [50, 100, 150, 200] and walls == sorted(walls) and walls[2] >= walls[1]


def test_written_files_respect_the_umask(navigate_small, tmp_path):
    old = os.umask(0o022)
    try:
        out = tmp_path / "data" / f"{NAVIGATE}-v0.npz"
        collect_small(NAVIGATE, out, episodes=2, episode_steps=11)
        run = tmp_path / "run"
        assert main(["train", "gcbc", "--dataset", str(out), "--out", str(run), "--steps", "10", "--fuse", "10",
                     "--log-every", "10", "--eval-every", "0", "--quiet", "--set", "actor_hidden_dims=8,8",
                     "--set", "batch_size=8"]) == 0
        assert main(["eval", str(run), "--episodes", "1", "--quiet"]) == 0
        for path in [out, out.with_suffix(".json"), *run.iterdir()]:
            assert stat.S_IMODE(path.stat().st_mode) == 0o644, path
    finally:
        os.umask(old)


def test_a_dataset_member_that_is_not_an_npy_array_is_a_clear_error(tmp_path, capsys):
    path = tmp_path / f"{NAVIGATE}-v0.npz"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("observations.npy", b"not an array at all")
        for k, v in {"actions": np.zeros((4, 2), np.float32), "terminals": np.array([0, 0, 0, 1], bool)}.items():
            np.save(tmp_path / "m.npy", v)
            zf.write(tmp_path / "m.npy", f"{k}.npy")
    with pytest.raises(EthogramError, match="'observations' is not an .npy array"):
        load_dataset(path)
    assert main(["train", "gcbc", "--dataset", str(path), "--out", str(tmp_path / "r"), "--quiet"]) == 2
    assert str(path) in capsys.readouterr().err


def test_a_malformed_checkpoint_record_is_a_clear_error_of_eval(tmp_path, capsys):
    run = tmp_path / "run"
    shutil.copytree(FIXTURE / "run-gcivl", run)
    (run / "checkpoint.json").write_text("{not json")
    assert main(["eval", str(run), "--episodes", "1", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "checkpoint.json" in err and "malformed" in err and "Traceback" not in err


# ------------------------------------------------------------------------------ old files still load

def test_a_run_directory_and_dataset_written_before_the_contracts_still_load_and_evaluate(tmp_path):
    run = tmp_path / "run-gcivl"
    shutil.copytree(FIXTURE / "run-gcivl", run)
    before = json.loads((run / "eval.json").read_text())
    r, agent, config = rundir.load(run)
    assert agent is gcivl and config.actor_hidden_dims == (16, 16) and rundir.checkpoint_step(run) == 100
    state = rundir.restore(run, r, agent, config)
    assert state["spec"] == Spec(2, 2)
    data = load_dataset(FIXTURE / "data" / f"{NAVIGATE}-v0.npz", 2, 2)
    assert data.size == 80
    assert main(["eval", str(run), "--episodes", "1", "--quiet"]) == 0
    after = json.loads((run / "eval.json").read_text())
    for k in ("success", "tasks", "mean_episode_length", "train_step"):
        assert after[k] == before[k]
    assert after["metrics"] == {"success": before["success"]}


# ------------------------------------------------------------------------------ the import graph

def _imports() -> dict[str, set[str]]:
    """module -> the ethogram modules it imports (at module level or inside functions)."""
    graph = {}
    for path in PKG.rglob("*.py"):
        mod = ".".join(path.relative_to(REPO).with_suffix("").parts).removesuffix(".__init__")
        deps = set()
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            deps |= {n for n in names if n.startswith("ethogram") and (PKG.parent / (n.replace(".", "/") + ".py")
                                                                       ).exists() or
                     (PKG.parent / n.replace(".", "/") / "__init__.py").exists() and n.startswith("ethogram")}
        graph[mod] = deps - {mod}
    return graph


def test_there_are_no_import_circles():
    graph = _imports()
    packages = {m for m in graph if (PKG.parent / m.replace(".", "/") / "__init__.py").exists()}

    def reach(start):
        seen, todo = set(), [start]
        while todo:
            for d in graph.get(todo.pop(), ()):
                if d not in seen and d not in packages:  # a package's __init__ re-exports, it is not a dependency
                    seen.add(d)
                    todo.append(d)
        return seen

    circles = sorted(m for m in graph if m not in packages and m in reach(m))
    assert not circles, f"modules on an import circle: {circles}"
    for m in graph:
        if m.startswith("ethogram.search"):
            assert "ethogram.train" not in reach(m) and "ethogram.cli" not in reach(m), m
    assert "ethogram.train" not in reach("ethogram.prompts")


def test_train_holds_the_loop_only():
    tree = ast.parse((PKG / "train.py").read_text())
    functions = {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}
    assert functions <= {"make_train_chunk", "train", "_train", "_set_save_every", "_set_steps"}, functions


# ------------------------------------------------------------------ an environment that does not observe x-y

def test_an_environment_whose_observation_is_not_the_position_runs_collect_train_eval_search(tmp_path):
    """pointvel observes (x, y, dx, dy): collection, training, evaluation and the search only go through the
    environment contract, so none of them takes the observation for the position."""
    from ethogram.envs.registry import make_env

    env = make_env("pointvelmaze-medium")
    assert env.obs_dim == 4 and env.goal_observation(np.zeros((1, 2))).shape == (1, 4)
    data = tmp_path / "pointvelmaze-medium-navigate-v0.npz"
    assert main(["collect", "pointvelmaze-medium-navigate", "--episodes", "10", "--episode-steps", "101",
                 "--out", str(data), "--quiet"]) == 0
    arrays = load_dataset(data, 4, 2)
    obs = np.asarray(arrays.observations)
    assert obs.shape[1] == 4 and np.abs(obs[:, 2:]).max() > 0.5  # the displacement is observed, not zeros
    # The displacement channel is the step's motion in action units.
    step = (np.asarray(arrays.next_observations)[:, :2] - obs[:, :2]) / 0.2
    np.testing.assert_allclose(np.asarray(arrays.next_observations)[:, 2:], step, atol=1e-4)
    run = tmp_path / "gcivl"
    assert main(["train", "gcivl", "--dataset", str(data), "--out", str(run), "--steps", "200", "--fuse", "100",
                 "--log-every", "100", "--eval-every", "100", "--eval-episodes", "1", "--quiet",
                 "--set", "actor_hidden_dims=16,16", "--set", "value_hidden_dims=16,16", "--set", "batch_size=32"]) == 0
    assert main(["eval", str(run), "--episodes", "2", "--quiet"]) == 0
    ev = json.loads((run / "eval.json").read_text())
    assert ev["env"] == "pointvelmaze-medium" and ev["metrics"]["success"] == ev["success"]
    assert (run / "rollouts.png").exists()
    search = tmp_path / "sns"
    assert main(["search", str(data), "--controller", str(run), "--out", str(search), "--nodes", "30",
                 "--quiet"]) == 0
    assert main(["eval", str(search), "--episodes", "1", "--quiet"]) == 0
    ev = json.loads((search / "eval.json").read_text())
    assert ev["agent"] == "sns" and ev["mode"] == "learned" and 0 <= ev["success"] <= 1
    with np.load(search / "graph.npz") as g:
        assert g["obs"].shape[1] == 4  # the graph's nodes are 4-D dataset observations
    assert main(["summarize", str(run)]) == 0
