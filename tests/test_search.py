"""Behavioural search (SNS): the harmonic code, the Hebbian graph, the plan/execute/mutate loop, the CLI.

Fast tests use the no-data mode (straight-line controller, no training) and stand-in controllers; the learned
controller end to end is a slow test.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from ethogram.agents.base import value_to_steps
from ethogram.cli import main
from ethogram.envs.registry import make_env
from ethogram.errors import EthogramError
from ethogram.search import graph as G
from ethogram.search.adapt import adaptation
from ethogram.search.controllers import StraightLine
from ethogram.search.harmonic import HarmonicConfig, encode, recognise, similarity, wave_vectors
from ethogram.search.roadmap import graph_from_dataset
from ethogram.search.run import default_config, search, search_online
from ethogram.search.sns import Searcher


@pytest.fixture(scope="module")
def medium():
    return make_env("pointmaze-medium")


def online_searcher(env, **changes):
    cfg = default_config("online")
    if changes:
        cfg = type(cfg)(**{**cfg.__dict__, **changes})
    g = G.empty(2, cfg.harmonic.modules * cfg.harmonic.directions)
    return Searcher(g, StraightLine(), cfg, success=env.success)


# ------------------------------------------------------------------------------------------- harmonic code

def test_harmonic_code_is_a_local_place_kernel():
    cfg = HarmonicConfig()
    omega = wave_vectors(cfg, 2)
    assert omega.shape == (cfg.modules * cfg.directions, 2)
    lengths = np.linalg.norm(omega, axis=1).reshape(cfg.modules, cfg.directions)
    np.testing.assert_allclose(lengths[1:, 0] / lengths[:-1, 0], 1 / cfg.ratio, rtol=1e-9)  # geometric scales
    rng = np.random.default_rng(0)
    here = encode(np.zeros(2), omega)
    assert np.allclose(np.abs(here), 1.0) and similarity(here, here) == pytest.approx(1.0)
    near = rng.normal(size=(200, 2)) * 0.2
    far = rng.uniform(-50, 50, size=(5000, 2))
    far = far[np.linalg.norm(far, axis=1) > 2.5]
    assert similarity(encode(near, omega), here[None]).min() > 0.8
    assert similarity(encode(far, omega), here[None]).max() < 0.65  # no aliasing over a giant maze's extent
    codes = encode(np.array([[0.0, 0.0], [5.0, 0.0], [0.0, 5.0]]), omega)
    assert recognise(encode(np.array([4.8, 0.1]), omega), codes, 0.65)[0] == 1
    assert recognise(encode(np.array([2.5, 2.5]), omega), codes, 0.65)[0] == -1


# ------------------------------------------------------------------------------------------- Hebbian graph

def test_hebbian_updates_and_habituation_reorder_behaviours():
    cfg = G.HebbConfig()
    g = G.empty(2, 1)
    G.add_nodes(g, np.zeros((4, 2)), np.zeros((4, 1)), visited=True)
    # two routes from 0 to the goal at 3: 0-1-3 (short) and 0-2-3 (longer)
    G.connect(g, [0, 1, 0, 2], [1, 3, 2, 3], [10, 10, 15, 15], 1.0)
    goal = np.array([np.inf, np.inf, np.inf, 0.0])
    _, nxt = G.cost_to_go(g, cfg, goal)
    assert G.path_from(0, nxt) == [0, 1, 3]
    G.depress(g, 0, 1, cfg)  # failure: the short route is now dearer than the long one
    e01 = G.edge(g, 0, 1)
    assert g.weight[e01] == pytest.approx(1.0 - cfg.rho) and g.tries[e01] == 1
    _, nxt = G.cost_to_go(g, cfg, goal)
    assert G.path_from(0, nxt) == [0, 2, 3]
    w = g.weight[e01]
    G.potentiate(g, 0, 1, 8, cfg)  # success: back up, and the measured length is learned
    assert g.weight[e01] == pytest.approx(w + cfg.eta * (1 - w)) and g.wins[e01] == 1
    assert G.length_of(g, 0, 1) == pytest.approx(8.0)
    G.habituate(g, [0, 2, 3], cfg)
    assert g.habit[G.edge(g, 0, 2)] > 0 and g.habit[G.edge(g, 2, 3)] > 0
    back = G.from_arrays(G.to_arrays(g))
    for k, v in G.to_arrays(g).items():
        np.testing.assert_array_equal(G.to_arrays(back)[k], v)
    assert G.path_from(0, G.cost_to_go(back, cfg, goal)[1]) == G.path_from(0, G.cost_to_go(g, cfg, goal)[1])
    dense = {k: np.zeros((g.n, g.n), getattr(g, k).dtype) for k in ("weight", "tries", "wins", "habit")}
    for k in dense:  # the dense (n, n) layout reads as the same graph
        dense[k][g.src[: g.m], g.dst[: g.m]] = getattr(g, k)[: g.m]
    old = {k: G.to_arrays(g)[k] for k in G.NODE_FIELDS} | {"length": G.dense_length(g)} | dense
    np.testing.assert_array_equal(G.cost_to_go(G.from_arrays(old), cfg, goal)[0], G.cost_to_go(g, cfg, goal)[0])


def test_sparse_planning_matches_dense_shortest_paths_and_plans_many_goals_at_once():
    """cost_to_go_many over a random graph equals Floyd-Warshall on the dense cost matrix, goal by goal."""
    from scipy.sparse.csgraph import floyd_warshall

    rng = np.random.default_rng(0)
    cfg = G.HebbConfig()
    n = 60
    g = G.empty(2, 1, capacity=4)  # capacities grow
    G.add_nodes(g, rng.normal(size=(n, 2)), np.zeros((n, 1)), visited=True)
    i, j = rng.integers(0, n, 400), rng.integers(0, n, 400)
    G.connect(g, i, j, rng.uniform(1, 20, 400), rng.uniform(0.1, 1.0, 400))
    G.depress(g, int(g.src[0]), int(g.dst[0]), cfg)
    assert g.m == len({(a, b) for a, b in zip(i, j, strict=True) if a != b}) == len(g.index)
    c = np.full((n, n), np.inf)
    c[g.src[: g.m], g.dst[: g.m]] = G.edge_cost(g, cfg)
    apsp = floyd_warshall(np.where(np.isfinite(c), c, 0), directed=True)
    goals = rng.choice(n, 3, replace=False)
    costs = np.full((3, n), np.inf)
    costs[np.arange(3), goals] = 0.0
    ctg, nxt = G.cost_to_go_many(g, cfg, costs)
    for k, gl in enumerate(goals):
        np.testing.assert_allclose(ctg[k], apsp[:, gl] + cfg.hop, rtol=1e-5)
        for s in range(n):
            if np.isfinite(ctg[k, s]) and s != gl:
                p = G.path_from(s, nxt[k])
                assert p[-1] == gl
                assert sum(c[a, b] for a, b in zip(p[:-1], p[1:], strict=True)) == pytest.approx(apsp[s, gl])
    near = G.neighbourhood(g, [0], 1)
    assert set(near) == {0} | set(g.dst[: g.m][g.src[: g.m] == 0]) | set(g.src[: g.m][g.dst[: g.m] == 0])


def test_goal_paths_stay_cheapest_while_the_graph_mutates():
    """GoalPaths (A* on a heuristic kept per goal) against a fresh Dijkstra after every mutation of a random graph:
    the same path costs, the same reachability, the heuristic a lower bound; inputs and neighbourhoods from the
    adjacency chains equal a scan of the edge arrays."""
    from ethogram.search.paths import GoalPaths

    rng = np.random.default_rng(1)
    cfg = G.HebbConfig()
    checked = unreachable = shared = 0
    for _ in range(6):
        n = int(rng.integers(10, 60))
        g = G.empty(2, 1, capacity=4)  # node and edge capacities grow under the chains
        G.add_nodes(g, rng.normal(size=(n, 2)), np.zeros((n, 1)), visited=True)
        m = int(rng.integers(n, 4 * n))
        G.connect(g, rng.integers(0, n, m), rng.integers(0, n, m), rng.uniform(1, 20, m), rng.uniform(0.2, 1, m))
        paths, goals = GoalPaths(g, cfg, share=80.0), rng.integers(0, n, 3)
        for _ in range(50):
            op, i, j = int(rng.integers(0, 6)), *(int(x) for x in rng.integers(0, g.n, 2))
            if op == 0:
                G.potentiate(g, i, j, float(rng.uniform(1, 10)), cfg)  # cheaper (or a new edge)
            elif op == 1:
                G.depress(g, i, j, cfg)  # dearer
            elif op == 2:
                G.weaken_inputs(g, j, 0.5)
            elif op == 3:
                G.habituate(g, [int(x) for x in rng.integers(0, g.n, 4)], cfg)
            elif op == 4:  # an inserted node with edges both ways
                k = int(G.add_nodes(g, rng.normal(size=(1, 2)), np.zeros((1, 1)), visited=True)[0])
                o = rng.integers(0, g.n, 5)
                G.connect(g, k, o, rng.uniform(1, 9, 5), 1.0)
                G.connect(g, o[:3], k, rng.uniform(1, 9, 3), 1.0)
            else:
                G.connect(g, rng.integers(0, g.n, 10), rng.integers(0, g.n, 10), rng.uniform(1, 20, 10), 0.5)
            goal, start = int(rng.choice(goals)), int(rng.integers(0, g.n))
            cost = np.full(g.n, np.inf)
            cost[goal] = 0.0
            ctg, _ = G.cost_to_go(g, cfg, cost)
            exact = ctg - cfg.hop  # cost_to_go counts the hop onto the goal itself
            p = paths.path(start, goal)
            if np.isfinite(exact[start]):
                c = G.edge_cost(g, cfg)
                assert p[0] == start and p[-1] == goal
                got = sum(c[G.edge(g, a, b)] for a, b in zip(p[:-1], p[1:], strict=True))
                assert got == pytest.approx(exact[start], rel=1e-5)
                checked += 1
            else:
                assert p is None
                unreachable += 1
            a = paths.anchor.get(goal, goal)
            if a != goal:  # a goal sharing an anchor's heuristic: shifted by the cost goal -> anchor, a lower bound
                to_a = np.full(g.n, np.inf)
                to_a[a] = 0.0
                exact_a = G.cost_to_go(g, cfg, to_a)[0] - cfg.hop
                shift = exact_a[goal]
                ok = np.isfinite(exact)
                assert np.all(np.maximum(0, paths.h[a][: g.n] - shift)[ok] <= exact[ok] * (1 + 1e-5) + 1e-4)
                ok = np.isfinite(exact_a)  # what the shared searches taught the anchor's h: still a lower bound
                assert np.all(paths.h[a][: g.n][ok] <= exact_a[ok] * (1 + 1e-5) + 1e-4)
                shared += 1
            h = paths.heuristic(goal)
            assert np.array_equal(np.isfinite(h), np.isfinite(exact))
            assert np.all(h[np.isfinite(h)] <= exact[np.isfinite(h)] * (1 + 1e-5) + 1e-6)
            near = np.zeros(g.n, bool)
            near[[start, goal]] = True
            for _ in range(2):
                out, inn = near[g.src[: g.m]], near[g.dst[: g.m]]
                near[g.dst[: g.m][out]] = near[g.src[: g.m][inn]] = True
            np.testing.assert_array_equal(G.neighbourhood(g, [start, goal], 2), np.nonzero(near)[0])
            np.testing.assert_array_equal(G.inputs(g, j), np.nonzero(g.dst[: g.m] == j)[0])
    assert checked > 100 and unreachable > 0 and shared > 20
    assert paths.stats["lowered"] > 0 and paths.stats["shared"] > 0  # repairs ran; goals shared an anchor


def test_value_to_steps_inverts_the_discounted_value():
    k = np.array([0.0, 1.0, 10.0, 100.0])
    v = -(1 - 0.99 ** k) / (1 - 0.99)
    np.testing.assert_allclose(np.asarray(value_to_steps(v, 0.99)), k, rtol=1e-3, atol=1e-3)


# ------------------------------------------------------------------------------------------- no-data search

def test_no_data_search_solves_a_medium_task(medium):
    searcher = online_searcher(medium)
    res = search_online(medium, searcher, [1], budget=5000, seed=0, after_success=3)["task1"]
    assert res["steps_to_first_success"] is not None and res["steps_to_first_success"] < 3000
    assert searcher.events["failures"] > 0 and searcher.events["candidates"] > 0  # it searched, and mutated
    # what it learned makes the next episode quick: success well inside the 1000-step horizon
    again = search_online(medium, searcher, [1], budget=1000, seed=1)["task1"]
    assert again["steps_to_first_success"] is not None and again["steps_to_first_success"] < 600


def two_part_graph(cfg):
    """A, A' (a component that leads nowhere), then B -> C -> goal and a far node -> goal. A to B is 40 steps,
    beyond the 24-step link, so no edge joins the two parts."""
    pts = np.array([[0, 0], [0.5, 0], [8, 0], [11, 0], [14, 0], [1, 20]], np.float32)
    g = G.empty(2, cfg.harmonic.modules * cfg.harmonic.directions)
    G.add_nodes(g, pts, np.zeros((len(pts), g.code.shape[1]), np.complex64), visited=True)
    G.connect(g, np.array([0, 1]), np.array([1, 0]), 2.5, 1.0)
    G.connect(g, np.array([2, 3, 5]), np.array([3, 4, 4]), 15.0, 1.0)
    return g, pts


def test_a_start_that_no_edge_leads_out_of_gets_a_bridge_to_the_nearest_node_that_leads_to_the_goal():
    """A graph of sampled states need not be strongly connected; with data (no exploration) the searcher must
    not head straight for a far goal forever: it hypothesises one edge, to the nearest node that leads on."""
    cfg = default_config("xy-roadmap")
    g, pts = two_part_graph(cfg)
    searcher = Searcher(g, StraightLine(), cfg)
    searcher(pts[:1], pts[4:5])
    assert searcher.events["bridges"] == 1
    assert np.isfinite(G.length_of(g, searcher.cur[0], 2)) and searcher.target[0] == 2  # to B
    g, pts = two_part_graph(cfg)
    frozen = Searcher(g, StraightLine(), type(cfg)(**{**cfg.__dict__, "mutate": False}))
    frozen(pts[:1], pts[4:5])
    assert frozen.events["bridges"] == 0 and G.edge(g, 0, 2) < 0 and G.edge(g, 1, 2) < 0  # the ablation: no change


def test_mutation_resolves_a_blocked_corridor_faster_than_a_frozen_graph(medium):
    out = adaptation(medium, task=3, seed=0, learn_wins=3, budget=4000)
    assert tuple(out["blocked_cell"]) not in (medium.tasks[2].init_ij, medium.tasks[2].goal_ij)
    mutate, frozen = out["mutate"]["steps_to_first_success"], out["frozen"]["steps_to_first_success"]
    assert mutate is not None
    assert frozen is None or mutate < frozen


def test_when_the_goal_moves_the_mutating_graph_finds_it_and_the_frozen_one_does_not(medium):
    out = adaptation(medium, task=1, seed=0, learn_wins=3, budget=4000, change="move-goal")
    assert tuple(out["new_goal_cell"]) == medium.tasks[1].goal_ij  # task 2's goal
    mutate, frozen = out["mutate"]["steps_to_first_success"], out["frozen"]["steps_to_first_success"]
    assert mutate is not None
    assert frozen is None or mutate < frozen


def test_moved_goal_maze_moves_only_that_tasks_goal(medium):
    from ethogram.envs.blocked import MovedGoalPointMaze

    moved = MovedGoalPointMaze(medium, 1, medium.tasks[3].goal_ij)
    xy, goal = moved.task_starts(np.array([1, 2]), np.random.default_rng(0))
    cells = [tuple(c) for c in medium.maze.xy_to_ij(goal)]
    assert cells == [medium.tasks[3].goal_ij, medium.tasks[1].goal_ij]
    assert tuple(medium.maze.xy_to_ij(xy)[0]) == medium.tasks[0].init_ij
    with pytest.raises(ValueError, match="wall"):
        MovedGoalPointMaze(medium, 1, (0, 0))


# ------------------------------------------------------------------------------------------- learned distances only

class WarpedValue:
    """A stand-in learned controller whose value lives in a transformed observation space: T(x, y) = (10 y, x / 10).
    Its steps-to-go disagree with x-y distances, so a graph built from raw coordinates would differ."""

    learned = True
    name = "warped"

    @staticmethod
    def warp(o):
        o = np.asarray(o, np.float64)
        return np.stack([10 * o[..., 1], o[..., 0] / 10], axis=-1)

    def distance(self, obs, goals):
        return np.linalg.norm(self.warp(goals) - self.warp(obs), axis=-1) / 0.2

    def act(self, obs, goals):
        return np.zeros_like(np.asarray(obs))


class Lopsided(WarpedValue):
    """An asymmetric learned distance: heading toward larger x costs half as much again."""

    def distance(self, obs, goals):
        up = np.asarray(goals)[..., 0] > np.asarray(obs)[..., 0]
        return super().distance(obs, goals) * (1.0 + 0.5 * up)


class Postured:
    """A learned distance over (x, y, posture): the agent moves in x-y at 0.2 per step but keeps posture 0, so a node
    of another posture is never within `reach` of it, only passed by (an ant arriving at a dataset state)."""

    learned = True
    name = "postured"

    def distance(self, obs, goals):
        o, g = np.asarray(obs, np.float64), np.asarray(goals, np.float64)
        return np.linalg.norm(g[..., :2] - o[..., :2], axis=-1) / 0.2 + np.abs(g[..., 2] - o[..., 2])

    def act(self, obs, goals):
        d = np.asarray(goals, np.float64)[..., :2] - np.asarray(obs, np.float64)[..., :2]
        return d / np.maximum(np.linalg.norm(d, axis=-1, keepdims=True), 0.2)


def test_passing_a_node_of_another_posture_counts_as_reaching_it():
    """Nodes every 10 steps along a corridor, of postures +-6: their distance never drops below reach (3). Without
    `passing` every leg ends in a failure; with it each node is reached once the agent is as close to the next one
    as the node is, and the agent walks the corridor to the goal without a failure."""
    import dataclasses

    def walk(passing: float):
        cfg = dataclasses.replace(default_config("learned"), passing=passing)
        g = G.empty(3, cfg.harmonic.modules * cfg.harmonic.directions)
        nodes = np.array([[2.0 * k, 0.0, 6.0 * (-1) ** k] for k in range(11)], np.float32)  # postures differ
        G.add_nodes(g, nodes, np.zeros((11, g.code.shape[1]), np.complex64), visited=True)
        G.connect(g, np.r_[0:10, 1:11], np.r_[1:11, 0:10], 22.0, 1.0)  # the learned distance between neighbours
        goal = np.array([[20.0, 0.0, 0.0]])
        done = lambda o, gl: np.linalg.norm(o[:, :2] - gl[:, :2], axis=-1) < 0.5  # noqa: E731
        searcher = Searcher(g, Postured(), cfg, success=done)
        obs = np.zeros((1, 3))
        for t in range(400):
            if done(obs, goal)[0]:
                return t, searcher.events
            obs[:, :2] += 0.2 * searcher(obs, goal)
        return None, searcher.events

    steps, ev = walk(0.0)
    assert steps is not None and steps < 130 and ev["failures"] == 0 and ev["reached"] >= 9
    steps_off, ev_off = walk(-1.0)
    assert ev_off["failures"] > 0 and (steps_off is None or steps_off > steps)


def test_goals_that_differ_by_noise_share_one_goal_node_with_goal_match_and_each_episode_reaches_its_own():
    """Three episodes whose goals differ in posture by 5 and in x-y by up to 1 (more than `novelty` apart): each gets
    its own goal node by default; with `goal_match` all plan to the first one, one heuristic serves them, and every
    episode still ends at its own goal (its last leg heads for the goal itself)."""
    import dataclasses

    def run(goal_match: float):
        cfg = dataclasses.replace(default_config("learned"), passing=0.0, goal_match=goal_match)
        g = G.empty(3, cfg.harmonic.modules * cfg.harmonic.directions)
        nodes = np.array([[2.0 * k, 0.0, 0.0] for k in range(11)], np.float32)
        G.add_nodes(g, nodes, np.zeros((11, g.code.shape[1]), np.complex64), visited=True)
        G.connect(g, np.r_[0:10, 1:11], np.r_[1:11, 0:10], 10.0, 1.0)
        goals = np.array([[21.0, 0.0, 0.0], [21.0, 1.0, 5.0], [20.5, -1.0, 10.0]])
        done = lambda o, gl: np.linalg.norm(o[:, :2] - gl[:, :2], axis=-1) < 0.5  # noqa: E731
        searcher = Searcher(g, Postured(), cfg, success=done)
        obs, first = np.zeros((3, 3)), np.full(3, -1)
        for t in range(300):
            hit = done(obs, goals) & (first < 0)
            first[hit] = t
            obs[:, :2] += 0.2 * searcher(obs, goals)
        return searcher, first

    alone, t_alone = run(0.0)
    shared, t_shared = run(20.0)
    assert len(set(alone.goal_node.tolist())) == 3 and (t_alone >= 0).all()
    assert len(set(shared.goal_node.tolist())) == 1 and (t_shared >= 0).all()
    assert shared.paths.stats["dijkstras"] == 1 and alone.paths.stats["dijkstras"] + alone.paths.stats["shared"] == 3


def test_lookahead_aims_at_the_farthest_next_node_within_reach_of_the_budget():
    """With `lookahead` the controller is asked for the farthest of the plan's next nodes within that many learned
    steps of the agent; judging still concerns the target node."""
    import dataclasses

    cfg = dataclasses.replace(default_config("learned"), passing=0.0, lookahead=30.0)
    g = G.empty(3, cfg.harmonic.modules * cfg.harmonic.directions)
    nodes = np.array([[2.0 * k, 0.0, 6.0 * (-1) ** k] for k in range(11)], np.float32)
    G.add_nodes(g, nodes, np.zeros((11, g.code.shape[1]), np.complex64), visited=True)
    G.connect(g, np.r_[0:10, 1:11], np.r_[1:11, 0:10], 22.0, 1.0)
    searcher = Searcher(g, Postured(), cfg, success=lambda o, gl: np.zeros(len(o), bool))
    obs, goal = np.zeros((1, 3)), np.array([[20.0, 0.0, 0.0]])
    searcher(obs, goal)
    assert searcher.target[0] == 1 and searcher.path[0][1:4] == [1, 2, 3]
    # node 2 is 20 + 6 = 26 learned steps away (within 30), node 3 is 30 + 6 = 36: the aim is node 2
    np.testing.assert_array_equal(searcher._aim(obs, goal)[0], nodes[2])
    off = Searcher(g, Postured(), dataclasses.replace(cfg, lookahead=0.0), success=searcher.success)
    off(obs, goal)
    np.testing.assert_array_equal(off._aim(obs, goal)[0], nodes[1])


def test_hop_policy_drives_hops_with_hiqls_low_level_and_is_refused_without_one():
    """`hop_policy` asks HIQL's low level for the target directly (z(s, target), no high-level proposal); a
    controller without a short-range policy is refused when the searcher is made, not mid-episode."""
    import dataclasses

    import jax

    from ethogram.agents import hilp, hiql
    from ethogram.agents.base import Spec, gaussian_act
    from ethogram.search.controllers import Learned

    config = hiql.Config(value_hidden_dims=(32, 32), actor_hidden_dims=(32, 32), rep_dim=8)
    state = hiql.init(jax.random.PRNGKey(0), Spec(obs_dim=3, action_dim=2), config)
    ctrl = Learned(hiql, config, state, name="hiql")
    rng = np.random.default_rng(0)
    obs, goals = rng.normal(size=(5, 3)).astype(np.float32), rng.normal(size=(5, 3)).astype(np.float32)
    z = hiql.goal_rep(state["params"]["goal_rep"], config, obs, goals)
    low = np.asarray(gaussian_act(hiql.low_actor_net(config, 2), state["params"]["low_actor"], obs, z))
    np.testing.assert_allclose(ctrl.act_subgoal(obs, goals), low, atol=1e-6)
    assert not np.allclose(ctrl.act(obs, goals), low, atol=1e-3)  # the full policy goes through the high level
    cfg = dataclasses.replace(default_config("learned"), hop_policy=True)
    g = G.empty(3, cfg.harmonic.modules * cfg.harmonic.directions)
    assert Searcher(g, ctrl, cfg).cfg.hop_policy
    hconf = hilp.Config(value_hidden_dims=(32, 32), actor_hidden_dims=(32, 32), latent_dim=8)
    other = Learned(hilp, hconf, hilp.init(jax.random.PRNGKey(0), Spec(obs_dim=3, action_dim=2), hconf), name="hilp")
    with pytest.raises(EthogramError, match="hop_policy"):
        Searcher(g, other, cfg)


def test_the_chunked_cover_keeps_what_one_greedy_pass_over_the_whole_pool_keeps():
    """The cover measures candidates a chunk at a time against the nodes kept so far; it must keep exactly the
    nodes, and give exactly the distances among them, of the greedy pass over the pool's full distance matrix."""
    from ethogram.search.roadmap import _cover

    rng = np.random.default_rng(1)
    pool = np.stack([rng.uniform(0, 40, 700), rng.uniform(0, 0.6, 700)], axis=-1).astype(np.float32)
    ctrl = Lopsided()
    full = ctrl.distance(pool[:, None], pool[None])
    sym = np.minimum(full, full.T)
    for n_nodes, chunk in ((12, 16), (10_000, 64)):
        ref: list[int] = []
        for i in range(len(pool)):
            if not ref or sym[i, ref].min() >= 4.0:
                ref.append(i)
                if len(ref) == n_nodes:
                    break
        keep, block = _cover(ctrl, pool, 4.0, n_nodes, chunk=chunk)
        assert list(keep) == ref and (len(ref) == 12 if n_nodes == 12 else len(ref) > 12)  # stopped at the budget
        np.testing.assert_allclose(block(np.arange(len(keep))), full[np.ix_(ref, ref)], rtol=1e-5)


def test_learned_graph_uses_the_controllers_distance_never_raw_coordinates():
    rng = np.random.default_rng(0)
    obs = np.stack([rng.uniform(0, 40, 600), rng.uniform(0, 0.6, 600)], axis=-1).astype(np.float32)
    ctrl = WarpedValue()
    cfg = default_config("learned")
    g, _ = graph_from_dataset(obs, ctrl, cfg, n_nodes=300, seed=0)
    nodes = g.obs[: g.n]
    learned = ctrl.distance(nodes[:, None], nodes[None])
    raw = np.linalg.norm(nodes[:, None] - nodes[None], axis=-1) / 0.2
    dense = G.dense_length(g)
    edges = np.isfinite(dense)
    assert edges.any()
    assert (learned[edges] <= cfg.link + 1e-4).all()  # every edge is short in the learned metric
    np.testing.assert_allclose(dense[edges], np.maximum(learned[edges], 1.0), rtol=1e-4)
    assert (raw[edges] > cfg.link).any()  # ... some are long in x-y (a raw roadmap would not have them)
    pairs = (raw <= cfg.link) & (learned > cfg.link)
    assert pairs.any() and not edges[pairs].any()  # and x-y neighbours far apart in the learned metric are not linked
    sym = np.minimum(learned, learned.T) + np.eye(g.n) * 1e9
    assert sym.min() >= cfg.novelty  # nodes are distinct places by the learned distance, not by x-y
    # the searcher recognises places by the learned distance too
    searcher = Searcher(g, ctrl, cfg, success=lambda o, gl: np.zeros(len(o), bool))
    probe = nodes[5] + np.array([3.0, 0.0], np.float32)  # 15 x-y steps away, 1.5 learned steps
    assert searcher.known_node(probe) == 5


def test_a_metric_embedding_measures_all_pairs_as_the_pairwise_distance_does():
    """HILP's distance is -||phi(s) - phi(g)|| read as steps: the m x n matrix from one phi per state equals the
    distance of each pair, and a graph built from it keeps its nodes `novelty` apart."""
    import jax

    from ethogram.agents import hilp
    from ethogram.agents.base import Spec
    from ethogram.search.controllers import Learned, distance_matrix

    config = hilp.Config(value_hidden_dims=(32, 32), actor_hidden_dims=(32, 32), latent_dim=8)
    state = hilp.init(jax.random.PRNGKey(0), Spec(obs_dim=5, action_dim=2), config)
    ctrl = Learned(hilp, config, state, name="hilp")
    assert ctrl.metric
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(37, 5)).astype(np.float32) * 3, rng.normal(size=(23, 5)).astype(np.float32) * 3
    pairs = ctrl.distance(np.repeat(a, len(b), 0), np.tile(b, (len(a), 1))).reshape(len(a), len(b))
    fast = distance_matrix(ctrl, a, b)
    assert fast.shape == (37, 23) and pairs.std() > 0.1
    np.testing.assert_allclose(fast, pairs, rtol=1e-3, atol=2e-2)
    cfg = type(default_config("learned"))(**{**default_config("learned").__dict__, "novelty": float(
        np.quantile(pairs, 0.2))})
    g, _ = graph_from_dataset(rng.normal(size=(400, 5)).astype(np.float32) * 3, ctrl, cfg, n_nodes=60, seed=1)
    d = distance_matrix(ctrl, g.obs[: g.n], g.obs[: g.n]) + np.eye(g.n) * 1e9
    assert 2 <= g.n <= 60 and d.min() >= cfg.novelty - 1e-3


def test_the_searcher_measures_a_step_s_states_against_every_node_at_once_and_agrees_with_pairs():
    """With a metric embedding a step's states are measured against all nodes in one call (`_embed_states`); a node
    inserted afterwards is measured on demand and keeps the state's embedding; both directions are the pairwise
    distance (a norm: symmetric)."""
    import jax

    from ethogram.agents import hilp
    from ethogram.agents.base import Spec
    from ethogram.search.controllers import Learned

    config = hilp.Config(value_hidden_dims=(32, 32), actor_hidden_dims=(32, 32), latent_dim=8)
    ctrl = Learned(hilp, config, hilp.init(jax.random.PRNGKey(0), Spec(obs_dim=5, action_dim=2), config), name="hilp")
    rng = np.random.default_rng(3)
    g = G.empty(5, default_config("learned").harmonic.modules * default_config("learned").harmonic.directions)
    searcher = Searcher(g, ctrl, default_config("learned"))
    G.add_nodes(g, rng.normal(size=(50, 5)).astype(np.float32) * 3, searcher.code(np.zeros((50, 5))), visited=True)
    states = rng.normal(size=(4, 5)) * 3
    searcher._embed_states(states)
    assert len(searcher._rows) == 4 and all(len(r) == 50 for r in searcher._rows.values())
    k = searcher.add_node(states[0], visited=True)  # after the rows: measured on demand
    np.testing.assert_allclose(searcher._node_z()[k], ctrl.embedding(states[:1])[0], rtol=1e-6)
    ids = np.array([3, 49, k, 0])
    for s in states:
        pairs = ctrl.distance(np.repeat(s[None], len(ids), 0), g.obs[ids])
        np.testing.assert_allclose(searcher.to_nodes(s, ids), pairs, rtol=1e-3, atol=2e-2)
        back = ctrl.distance(g.obs[ids], np.repeat(s[None], len(ids), 0))
        np.testing.assert_allclose(searcher.from_nodes(ids, s), back, rtol=1e-3, atol=2e-2)
    searcher._embed_states(states, near=np.array([3, 10]))  # only some nodes measured (a failure's neighbourhood)
    assert all(len(r) == 2 for r in searcher._rows.values())
    for s in states:
        pairs = ctrl.distance(np.repeat(s[None], len(ids), 0), g.obs[ids])
        np.testing.assert_allclose(searcher.to_nodes(s, ids), pairs, rtol=1e-3, atol=2e-2)
    searcher._forget_states()
    np.testing.assert_allclose(searcher.to_nodes(states[1], ids), ctrl.distance(
        np.repeat(states[1:2], len(ids), 0), g.obs[ids]), rtol=1e-3, atol=2e-2)


def test_the_progress_filter_drops_states_that_do_not_move():
    """An episode that walks for 60 steps and then lies still for 40: with span 8 and ratio 0.5 the walking states
    pass, the still ones (a fallen ant) and those within 8 steps of the episode's end do not."""
    from ethogram.search.roadmap import progressing

    walk = np.stack([np.arange(60) * 0.2, np.zeros(60)], -1)
    still = np.repeat(walk[-1:], 40, 0)
    obs = np.concatenate([walk, still, walk]).astype(np.float32)  # two episodes: 100 steps and 60
    terminals = np.zeros(len(obs))
    terminals[[99, 159]] = 1
    kept = progressing(obs, terminals, StraightLine(), np.arange(len(obs)), span=8, ratio=0.5)
    assert set(range(0, 52)) <= set(kept)  # walking, a state 8 steps later still within the walk
    assert not set(range(56, 100)) & set(kept)  # still by then, or lying still
    assert set(kept) & set(range(100, 160)) == set(range(100, 152))  # the second episode: all but its last 8


# ------------------------------------------------------------------------------------------- CLI and bad input

def test_search_cli_eval_and_summarize(tmp_path, capsys):
    run = tmp_path / "sns"
    assert main(["search", "pointmaze-medium", "--out", str(run), "--steps", "3000", "--quiet"]) == 0
    assert (run / "graph.npz").exists() and (run / "graph.png").exists()
    stats = json.loads((run / "search.json").read_text())
    assert stats["mode"] == "online" and stats["nodes"] > 10
    assert all(stats[f"task{k}"]["steps_to_first_success"] for k in range(1, 6))
    assert main(["eval", str(run), "--episodes", "2", "--quiet"]) == 0
    ev = json.loads((run / "eval.json").read_text())
    assert ev["agent"] == "sns" and ev["episodes_per_task"] == 2 and ev["success"] >= 0.8
    assert 0 < ev["plan_ms_per_step"] < ev["search_ms_per_step"] and ev["replans_per_episode"] >= 1
    out = tmp_path / "sns.json"
    assert main(["summarize", str(run), "--json", str(out)]) == 0
    rec = json.loads(out.read_text())[0]
    assert rec["agent"] == "sns" and rec["dataset"] == "pointmaze-medium-online" and rec["metric"] == "success"
    capsys.readouterr()

    # The same run through the prompt interface of the learned agents: a goal prompt, answered zero-shot.
    from ethogram import prompts
    from ethogram.search import agent as sns

    config, state = sns.load(run)
    env = state["env"]
    rng = np.random.default_rng(5)
    sim, goal = env.task_starts(np.array([2, 2]), rng)
    policy = prompts.answer(sns, config, state, prompts.Goal(observation=env.goal_observation(goal)[0]),
                            obs_dim=env.obs_dim)
    reached = np.zeros(2, bool)
    for _ in range(env.episode_steps):
        sim = env.step(sim, policy(env.observe(sim), None), rng)
        reached |= env.success(sim, goal[:1])
        if reached.all():
            break
    assert reached.all()
    with pytest.raises(EthogramError, match="cannot answer a reward prompt"):
        prompts.answer(sns, config, state, prompts.Reward(fn=lambda o, n: n[:, 0] - o[:, 0]), obs_dim=env.obs_dim)
    with pytest.raises(EthogramError, match="shape"):
        prompts.answer(sns, config, state, prompts.Goal(observation=np.zeros(3)), obs_dim=env.obs_dim)


@pytest.mark.parametrize("argv, message", [
    (["search", "pointmaze-huge", "--out", "{tmp}/a"], "unknown environment"),
    (["search", "{data}", "--out", "{tmp}/b", "--controller", "{tmp}/nope"], "does not exist"),
    (["search", "pointmaze-medium", "--out", "{tmp}/c", "--controller", "{tmp}"], "needs a dataset"),
    (["search", "{tmp}/missing.npz", "--out", "{tmp}/d"], "does not exist"),
    (["search", "pointmaze-medium", "--out", "{tmp}/e", "--steps", "0"], "--steps"),
    (["search", "pointmaze-medium", "--out", "{tmp}/f", "--set", "speed=3"], "unknown config field 'speed'"),
    (["search", "pointmaze-medium", "--out", "{tmp}/g", "--set", "mutate=maybe"], "cannot set mutate"),
    (["search", "{data}", "--out", "{tmp}/h", "--set", "planner=fast"], "unknown planner 'fast'"),
    (["eval", "{tmp}/empty"], "does not exist"),
])
def test_bad_input_is_a_clear_error(tmp_path, capsys, navigate_small, argv, message):
    argv = [a.replace("{tmp}", str(tmp_path)).replace("{data}", str(navigate_small)) for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error:") and message in err and "Traceback" not in err
    assert not (tmp_path / "h").exists()


def test_wrong_shape_goal_is_a_clear_error(medium):
    searcher = online_searcher(medium)
    with pytest.raises(EthogramError, match="goal"):
        searcher(np.zeros((3, 2), np.float32), np.zeros((3, 5), np.float32))
    with pytest.raises(EthogramError, match="observation"):
        searcher(np.zeros((3, 4), np.float32), np.zeros((3, 4), np.float32))


def test_existing_run_is_not_overwritten(tmp_path):
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "keep.txt").write_text("x")
    with pytest.raises(EthogramError, match="not empty"):
        search("pointmaze-medium", tmp_path / "run", steps=10)


@pytest.mark.slow
@pytest.mark.parametrize("agent", ["gcivl", "hilp"])
def test_learned_controller_search_end_to_end(tmp_path, navigate_long, capsys, agent):
    """GCIVL (its value) or HILP (its phi distance and goal prompt), trained briefly on a small navigate dataset,
    drives the edges and measures them."""
    from ethogram.search.controllers import controller_from_run, distance_matrix
    from ethogram.search.run import load_search_run

    ctrl_dir, run = tmp_path / agent, tmp_path / "sns"
    assert main(["train", agent, "--dataset", str(navigate_long), "--out", str(ctrl_dir), "--steps", "3000",
                 "--eval-every", "0", "--quiet", "--set", "actor_hidden_dims=64,64", "--set",
                 "value_hidden_dims=64,64", "--set", "batch_size=256"]) == 0
    assert main(["search", str(navigate_long), "--controller", str(ctrl_dir), "--out", str(run), "--nodes", "150",
                 "--quiet"]) == 0
    cfg, g, ctrl, sns_cfg = load_search_run(run)
    assert cfg["mode"] == "learned" and cfg["controller_agent"] == agent
    n = g.n
    learned = distance_matrix(controller_from_run(ctrl_dir), g.obs[:n], g.obs[:n])
    dense = G.dense_length(g)
    edges = np.isfinite(dense)
    np.testing.assert_allclose(dense[edges], np.maximum(learned[edges], 1.0), rtol=1e-3, atol=1e-3)
    assert main(["eval", str(run), "--episodes", "3", "--quiet"]) == 0
    ev = json.loads((run / "eval.json").read_text())
    assert ev["agent"] == "sns" and ev["mode"] == "learned" and 0.0 <= ev["success"] <= 1.0
    capsys.readouterr()


def test_search_ledger_rebuilds_the_records_without_the_run_directories(tmp_path, capsys):
    """Evaluated search runs go into a ledger; with the run directories deleted, the records come from the ledger
    alone: seeds pooled per configuration, a frozen graph its own agent, a seed recorded twice refused."""
    import shutil
    import subprocess
    import sys
    from pathlib import Path

    script = Path(__file__).resolve().parents[1] / "scripts" / "run_ledger.py"
    ledger, evals = tmp_path / "ledger.json", {}
    for name, seed, sets in (("a", 0, []), ("b", 1, []), ("c", 0, ["--set", "mutate=false"])):
        run = tmp_path / name
        assert main(["search", "pointmaze-medium", "--out", str(run), "--steps", "1500", "--seed", str(seed),
                     "--quiet", *sets]) == 0
        assert main(["eval", str(run), "--episodes", "1", "--seed", str(seed), "--quiet", "--no-video"]) == 0
        evals[name] = json.loads((run / "eval.json").read_text())
        if not sets:  # the mutating runs on the held-out tasks too
            assert main(["eval", str(run), "--episodes", "1", "--seed", str(seed), "--quiet", "--no-video", "--tasks",
                         "heldout"]) == 0
            evals[name + "-heldout"] = json.loads((run / "eval-heldout.json").read_text())
        res = subprocess.run([sys.executable, str(script), "add", str(ledger), name, str(run)], capture_output=True,
                             text=True)
        assert res.returncode == 0, res.stderr
        shutil.rmtree(run)
    out = tmp_path / "records.json"
    res = subprocess.run([sys.executable, str(script), "records", str(ledger), "--json", str(out)],
                         capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    recs = {(r["agent"], r["metric"]): r for r in json.loads(out.read_text())}
    ok = recs[("sns", "success")]
    assert ok["seeds"] == [0, 1] and ok["mean"] == pytest.approx((evals["a"]["success"] + evals["b"]["success"]) / 2)
    assert recs[("sns-frozen", "success")]["seeds"] == [0]
    held = recs[("sns", "success_heldout")]
    assert held["seeds"] == [0, 1] and held["mean"] == pytest.approx(
        (evals["a-heldout"]["success"] + evals["b-heldout"]["success"]) / 2) and len(held["tasks"]) == 5
    assert ("sns-frozen", "success_heldout") not in recs  # not evaluated there: no record, not a zero
    assert recs[("sns", "replans_per_episode")]["mean"] > 0 and ("sns", "search_ms_per_step") in recs
    entries = json.loads(ledger.read_text())
    entries["d"] = entries["a"]  # the same seed of the same configuration twice
    ledger.write_text(json.dumps(entries))
    res = subprocess.run([sys.executable, str(script), "records", str(ledger), "--json", str(out)],
                         capture_output=True, text=True)
    assert res.returncode == 2 and "seed 0 is there twice" in res.stderr and "Traceback" not in res.stderr
    del entries["d"]
    entries["e"] = {"agent": "gcbc", "success": 0.1}  # a trained agent's run among search runs
    ledger.write_text(json.dumps(entries))
    res = subprocess.run([sys.executable, str(script), "records", str(ledger), "--json", str(out)],
                         capture_output=True, text=True)
    assert res.returncode == 2 and "both search runs and trained agents' runs" in res.stderr
    capsys.readouterr()
