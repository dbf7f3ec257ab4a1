"""GCIQL, QRL, CRL and HIQL for real: CLI training and evaluation, checkpoints, resume, published defaults, and
behaviour that an untrained network does not show."""

from __future__ import annotations

import dataclasses
import json
import shutil

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from test_train_eval import losses, read_csv

from ethogram import checkpoint, rundir
from ethogram.agents import AGENTS, crl, dataset_overrides, gciql, gcivl, hiql, qrl
from ethogram.agents.base import Spec
from ethogram.cli import main
from ethogram.data.dataset import load_dataset
from ethogram.data.goals import GoalMix, sample_goal_idxs
from ethogram.errors import EthogramError

NEW = ("gciql", "qrl", "crl", "hiql")
STEPS = 600
# Tiny networks, a faster learning rate and faster target updates than the reference, so that 600 steps teach
# something measurable on 2000 transitions.
SMALL = {"batch_size": "64", "actor_hidden_dims": "32,32", "value_hidden_dims": "32,32", "lr": "1e-3"}
EXTRA = {"gciql": {"tau": "0.05"}, "qrl": {"latent_dim": "32"}, "crl": {"latent_dim": "32"}, "hiql": {"tau": "0.05"}}
EXPECTED_LOSSES = {
    "gciql": {"value/loss", "critic/loss", "actor/loss", "actor/q_loss", "actor/bc_loss"},
    "qrl": {"value/loss", "value/lam_loss", "dynamics/loss", "actor/loss", "actor/q_loss", "actor/bc_loss"},
    "crl": {"critic/loss", "actor/loss", "actor/q_loss", "actor/bc_loss"},
    "hiql": {"value/loss", "low_actor/loss", "high_actor/loss"},
}


def sets(agent: str) -> list[str]:
    return [x for k, v in {**SMALL, **EXTRA[agent]}.items() for x in ("--set", f"{k}={v}")]


def train_cli(agent, dataset, out, steps=STEPS, extra=()):
    argv = ["train", agent, "--dataset", str(dataset), "--out", str(out), "--steps", str(steps), "--fuse", "100",
            "--log-every", "100", "--eval-every", "0", "--quiet", *sets(agent), *extra]
    assert main(argv) == 0
    return out


@pytest.fixture(scope="module", params=NEW)
def agent_run(request, tmp_path_factory, navigate_small):
    """(agent name, run dir): a tiny run of each new agent, trained from the CLI and evaluated (1 episode/task)."""
    run = train_cli(request.param, navigate_small, tmp_path_factory.mktemp(request.param) / "run")
    assert main(["eval", str(run), "--episodes", "1", "--quiet"]) == 0
    return request.param, run


def restored(run):
    r, agent, config = rundir.load(run)
    return agent, config, rundir.restore(run, r, agent, config)


# ------------------------------------------------------------------------------ train, evaluate, checkpoints


def test_trains_and_evaluates_from_the_cli(agent_run):
    name, run = agent_run
    rows = read_csv(run / "metrics.csv")
    assert [int(r["step"]) for r in rows] == list(range(100, STEPS + 1, 100))
    assert EXPECTED_LOSSES[name] <= set(rows[0])
    assert all(np.isfinite(float(v)) for r in rows for v in r.values())
    res = json.loads((run / "eval.json").read_text())
    assert res["agent"] == name and res["train_step"] == STEPS and 0.0 <= res["success"] <= 1.0
    assert (run / "rollouts.png").read_bytes().startswith(b"\x89PNG")
    cfg = json.loads((run / "config.json").read_text())
    assert cfg["agent"] == name and cfg["agent_config"]["lr"] == 1e-3


def test_checkpoint_of_another_agent_is_refused(agent_run, tmp_path, capsys):
    name, run = agent_run
    _, config, _ = restored(run)
    for other in ("gcivl", *NEW):
        if other == name:
            continue
        module = AGENTS[other]
        fields = {f.name for f in dataclasses.fields(module.Config)}
        shared = {k: v for k, v in dataclasses.asdict(config).items() if k in fields}
        template = module.init(jax.random.PRNGKey(0), Spec(2, 2), module.Config(**shared))
        with pytest.raises(EthogramError, match="another agent"):
            checkpoint.load(run / "checkpoint.safetensors", template)
    # Through the CLI: a run directory whose config names another agent is refused with a clear error.
    other = "gcivl"
    copy = shutil.copytree(run, tmp_path / "run")
    cfg = json.loads((copy / "config.json").read_text())
    fields = {f.name for f in dataclasses.fields(gcivl.Config)}
    cfg["agent"], cfg["agent_config"] = other, {k: v for k, v in cfg["agent_config"].items() if k in fields}
    (copy / "config.json").write_text(json.dumps(cfg))
    capsys.readouterr()
    assert main(["eval", str(copy), "--episodes", "1", "--quiet"]) != 0
    assert "another agent" in capsys.readouterr().err


def test_summarize_reads_the_run(agent_run, tmp_path):
    name, run = agent_run
    assert main(["summarize", str(run), "--json", str(tmp_path / "r.json")]) == 0
    (record,) = json.loads((tmp_path / "r.json").read_text())
    assert record["agent"] == name and record["seeds"] == [0] and record["train_steps"] == STEPS


@pytest.mark.parametrize("name", ["qrl", "hiql"])
def test_resume_gives_the_metrics_of_an_uninterrupted_run(name, navigate_small, tmp_path):
    """HIQL samples its own batches (subgoals); QRL has a scalar dual variable in its state."""
    whole = train_cli(name, navigate_small, tmp_path / "whole", steps=300, extra=["--save-every", "200"])
    cut = train_cli(name, navigate_small, tmp_path / "cut", steps=200, extra=["--save-every", "200"])
    cfg = json.loads((cut / "config.json").read_text())
    cfg["train_config"]["steps"] = 300
    (cut / "config.json").write_text(json.dumps(cfg))
    assert main(["train", "--resume", str(cut), "--quiet"]) == 0
    assert losses(cut) == losses(whole)
    assert (cut / "checkpoint.safetensors").read_bytes() == (whole / "checkpoint.safetensors").read_bytes()


# ------------------------------------------------------------------------------ behaviour beyond chance


def trajectory_pairs(dataset, near: int, far: int, n: int = 400):
    """Dataset states s with the states `near` and `far` steps later in the same episode."""
    data = load_dataset(dataset, 2, 2)
    obs, final = np.asarray(data.observations), np.asarray(data.final_idx)
    i = np.random.default_rng(0).permutation(len(obs))
    i = i[final[i] - i >= far][:n]
    return jnp.asarray(obs[i]), jnp.asarray(obs[i + near]), jnp.asarray(obs[i + far])


@pytest.mark.parametrize("name", ["gciql", "hiql"])
def test_value_ranks_near_goals_above_far_goals(name, agent_run, navigate_small):
    """V(s, g) is higher for the state 5 steps ahead than for the one 60 steps ahead; the untrained value is at
    chance (measured: 0.45 GCIQL, 0.37 HIQL)."""
    if agent_run[0] != name:
        pytest.skip("runs with its own agent's fixture")
    agent, config, state = restored(agent_run[1])
    s, near, far = trajectory_pairs(navigate_small, 5, 60)
    untrained = agent.init(jax.random.PRNGKey(0), Spec(2, 2), config)
    acc = lambda st: float(np.mean(agent.value(st, s, near, config) > agent.value(st, s, far, config)))
    assert acc(untrained) < 0.65
    assert acc(state) >= 0.8


def test_qrl_learns_a_temporal_distance(agent_run, navigate_small):
    """After training, d(s, s_k) for the state k steps later is about k (one step costs about 1, by the constraint
    d(s, s') <= 1, and states are pushed as far apart as that allows); measured 1.2 (median, k = 1), 25.8 (k = 20),
    55.9 (k = 60). The untrained distance is near 0 everywhere (1.0 at k = 60)."""
    if agent_run[0] != "qrl":
        pytest.skip("runs with its own agent's fixture")
    _, config, state = restored(agent_run[1])
    untrained = qrl.init(jax.random.PRNGKey(0), Spec(2, 2), config)
    for k in (1, 20, 60):
        s, goal, _ = trajectory_pairs(navigate_small, k, 60)
        d = np.asarray(-qrl.value(state, s, goal, config))
        if k == 1:
            assert np.median(d) <= 1.5
        else:
            assert 0.5 * k <= d.mean() <= 1.5 * k
            assert np.asarray(-qrl.value(untrained, s, goal, config)).mean() < 0.1 * k


def test_crl_critic_ranks_the_true_goal_above_other_goals(agent_run, navigate_small):
    """For each (s, a) of a fresh batch of 64, the fraction of the other 63 goals (future states of other
    transitions) whose logit is below the true future state's: 0.5 is chance, the untrained critic is near it."""
    if agent_run[0] != "crl":
        pytest.skip("runs with its own agent's fixture")
    _, config, state = restored(agent_run[1])
    data = load_dataset(navigate_small, 2, 2)
    ranks = {}
    for label, st in (("trained", state), ("untrained", crl.init(jax.random.PRNGKey(0), Spec(2, 2), config))):
        scores = []
        for k in range(8):
            key = jax.random.PRNGKey(100 + k)
            idxs = jax.random.randint(key, (64,), 0, data.size)
            goals = sample_goal_idxs(jax.random.fold_in(key, 1), data, idxs, GoalMix(0, 1, 0, True), config.discount)
            phi, psi = crl.critic_net(config).apply({"params": st["params"]["critic"]}, data.observations[idxs],
                                                    data.actions[idxs], data.observations[goals],
                                                    method=crl.Bilinear.representations)
            logits = np.asarray(jnp.einsum("kid,kjd->ij", phi, psi))
            below = (logits < np.diag(logits)[:, None]).sum(axis=1) / 63
            scores.append(below.mean())
        ranks[label] = float(np.mean(scores))
    assert abs(ranks["untrained"] - 0.5) < 0.15
    assert ranks["trained"] >= 0.65  # measured 0.74


# ------------------------------------------------------------------------------ HIQL's batches


def test_hiql_batches_have_subgoals_in_the_same_trajectory(navigate_small):
    data = load_dataset(navigate_small, 2, 2)
    config = hiql.Config(batch_size=4096, actor_p_trajgoal=0.5, actor_p_randomgoal=0.5)
    batch = jax.jit(lambda k: hiql.sample_batch(k, data, config))(jax.random.PRNGKey(0))
    obs, final = np.asarray(data.observations), np.asarray(data.final_idx)
    idxs = np.asarray(batch["idxs"])
    ahead = np.minimum(idxs + 25, final[idxs])
    np.testing.assert_array_equal(np.asarray(batch["low_actor_goals"]), obs[ahead])
    # High-level targets lie between the state and the goal for trajectory goals, 25 steps ahead for random ones.
    target_idx = np.array([np.flatnonzero((obs == t).all(1))[0] for t in np.asarray(batch["high_actor_targets"])])
    assert (target_idx >= idxs).all() and (target_idx <= final[idxs]).all() and (target_idx - idxs <= 25).all()
    assert {"value_goals", "rewards", "masks", "actor_goals", "high_actor_goals"} <= set(batch)


# ------------------------------------------------------------------------------ published defaults


def test_published_defaults():
    c = gciql.Config()
    assert (c.expectile, c.alpha, c.tau, c.value_hidden_dims) == (0.9, 0.003, 0.005, (512,) * 3)
    assert c.value_mix == GoalMix(0.2, 0.5, 0.3, True) and c.actor_mix == GoalMix(0.0, 1.0, 0.0, False)
    c = qrl.Config()
    assert (c.latent_dim, c.eps, c.alpha, c.dim_per_component) == (512, 0.05, 0.0003, 8)
    assert c.value_mix.p_rand == 1.0
    c = crl.Config()
    assert (c.latent_dim, c.alpha) == (512, 0.03) and c.value_mix == GoalMix(0.0, 1.0, 0.0, True)
    c = hiql.Config()
    assert (c.expectile, c.rep_dim, c.subgoal_steps, c.low_alpha, c.high_alpha) == (0.7, 10, 25, 3.0, 3.0)
    assert c.value_mix == GoalMix(0.2, 0.5, 0.3, True)
    for c in (gciql.Config(), qrl.Config(), crl.Config(), hiql.Config()):
        assert (c.lr, c.batch_size, c.discount, c.actor_hidden_dims) == (3e-4, 1024, 0.99, (512,) * 3)


def test_dataset_overrides_per_robot_and_maze():
    assert dataset_overrides("gciql", "navigate", "medium") == {}
    assert dataset_overrides("gciql", "navigate", "medium", "ant") == {"alpha": 0.3}
    assert dataset_overrides("qrl", "navigate", "large", "ant") == {"alpha": 0.003}
    assert dataset_overrides("crl", "stitch", "giant", "ant") == {
        "alpha": 0.1, "discount": 0.995, "actor_p_trajgoal": 0.5, "actor_p_randomgoal": 0.5}
    assert dataset_overrides("hiql", "navigate", "giant", "ant") == {"discount": 0.995}
    assert dataset_overrides("qrl", "stitch", "giant") == {"discount": 0.995, "actor_p_trajgoal": 0.5,
                                                           "actor_p_randomgoal": 0.5}


def test_bfloat16_matmuls_are_opt_in_and_close_to_float32():
    config = gcivl.Config(actor_hidden_dims=(64, 64), value_hidden_dims=(64, 64))
    state = gcivl.init(jax.random.PRNGKey(0), Spec(2, 2), config)
    obs = jax.random.uniform(jax.random.PRNGKey(1), (256, 2), minval=0, maxval=20)
    goals = jax.random.uniform(jax.random.PRNGKey(2), (256, 2), minval=0, maxval=20)
    exact = gcivl.act(state, obs, goals, config)
    fast = gcivl.act(state, obs, goals, dataclasses.replace(config, matmul="bfloat16"))
    assert not np.array_equal(exact, fast)  # really another arithmetic
    np.testing.assert_allclose(fast, exact, rtol=0.05, atol=2e-3)
    with pytest.raises(EthogramError, match="unknown matmul precision"):
        dataclasses.replace(config, matmul="int8")


def test_ensemble_keeps_flax_vmap_layout_and_outputs():
    """The member-by-member ensemble stores its parameters exactly as flax's nn.vmap(MLP) did (names and shapes),
    so checkpoints written before keep loading, and computes the same function of them."""
    import flax.linen as nn

    from ethogram.nets import MLP, VmapMLP

    vmapped = nn.vmap(MLP, variable_axes={"params": 0}, split_rngs={"params": True}, in_axes=None, out_axes=0,
                      axis_size=3)

    class Old(nn.Module):
        @nn.compact
        def __call__(self, x):
            return vmapped((16, 16, 1), layer_norm=True)(x)

    class New(nn.Module):
        @nn.compact
        def __call__(self, x):
            return VmapMLP((16, 16, 1), layer_norm=True, num=3)(x)

    x = jax.random.normal(jax.random.PRNGKey(0), (7, 4))
    old = Old().init(jax.random.PRNGKey(1), x)
    new = New().init(jax.random.PRNGKey(1), x)
    assert jax.tree_util.tree_map(jnp.shape, old) == jax.tree_util.tree_map(jnp.shape, new)
    # Members are initialised independently (not copies of one another).
    kernel = np.asarray(new["params"]["VmapMLP_0"]["Dense_1"]["kernel"])
    assert not np.allclose(kernel[0], kernel[1])
    # Perturb the layer-norm parameters too, so that they matter.
    leaves, treedef = jax.tree_util.tree_flatten(old)
    keys = jax.random.split(jax.random.PRNGKey(2), len(leaves))
    params = treedef.unflatten([p + 0.3 * jax.random.normal(k, p.shape) for p, k in zip(leaves, keys, strict=True)])
    np.testing.assert_allclose(New().apply(params, x), Old().apply(params, x), rtol=1e-5, atol=1e-5)


def _union_length(x, y):
    """Measure of the union of the intervals [x_i, y_i] with x_i < y_i, by merging them in sorted order."""
    total, end = 0.0, -np.inf
    for a, b in sorted((a, b) for a, b in zip(x, y, strict=True) if a < b):
        if b > end:
            total += b - max(a, end)
            end = b
    return total


@pytest.mark.parametrize("ties", [False, True])
def test_iqe_components_is_the_measure_of_the_union_of_intervals(ties):
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=(2, 40, 32)).astype(np.float32)
    if ties:  # shared endpoints, identical intervals and empty ones
        x, y = np.round(x * 2) / 2, np.round(y * 2) / 2
        x[:, :4] = y[:, :4]
    got = np.asarray(qrl.iqe_components(jnp.asarray(x), jnp.asarray(y), 8))
    want = np.array([[_union_length(x[b, g * 8:(g + 1) * 8], y[b, g * 8:(g + 1) * 8]) for g in range(4)]
                     for b in range(40)])
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_iqe_components_gradient_is_the_union_lengths_and_keeps_leading_axes():
    rng = np.random.default_rng(4)
    x, y = rng.normal(size=(2, 3, 5, 16)).astype(np.float32)
    got = np.asarray(qrl.iqe_components(jnp.asarray(x), jnp.asarray(y), 8))
    assert got.shape == (3, 5, 2)
    np.testing.assert_allclose(got[2, 4], [_union_length(x[2, 4, :8], y[2, 4, :8]),
                                           _union_length(x[2, 4, 8:], y[2, 4, 8:])], rtol=1e-5)
    gx, gy = jax.grad(lambda a, b: qrl.iqe_components(a, b, 8)[1, 2, 0], argnums=(0, 1))(jnp.asarray(x),
                                                                                          jnp.asarray(y))
    eps, xs, ys = 1e-4, x[1, 2, :8].astype(np.float64), y[1, 2, :8].astype(np.float64)
    for i in range(8):  # central differences of the sorted-merge union; random endpoints have no ties
        d = np.eye(8)[i] * eps
        fx = (_union_length(xs + d, ys) - _union_length(xs - d, ys)) / (2 * eps)
        fy = (_union_length(xs, ys + d) - _union_length(xs, ys - d)) / (2 * eps)
        assert abs(float(gx[1, 2, i]) - fx) < 1e-3 and abs(float(gy[1, 2, i]) - fy) < 1e-3
    assert not np.asarray(gx)[1, 2, 8:].any() and not np.asarray(gx)[0].any()


def test_train_help_names_every_agent(capsys):
    assert main(["train", "--help"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    assert all(name in text for name in AGENTS if name != "sns")
