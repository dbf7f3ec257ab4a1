"""Systematic Neural Search: plan the cheapest behaviour on the cognitive graph, execute it, mutate the graph.

One `Searcher` drives a batch of episodes (one row per episode) through the same graph:
  plan     from the node the agent is at, the cheapest path to the goal, after the step's mutations (with data:
           one A* search per episode on a heuristic kept per goal node, search.paths; exploring: the episodes
           that need a plan in one step are planned together, one Dijkstra per distinct goal, graph.cost_to_go_many);
  execute  the local controller heads for the next node of the path;
  judge    reached (controller distance <= reach): potentiate the edge, go on; no progress for `patience`
           steps or a timeout: a failure;
  mutate   on failure depress the edge, insert the state where progress stopped as a new node (when the
           harmonic code / learned distance says it is a new place), and, without data, propose candidate
           places around it (detours); habituate the abandoned behaviour if it did not bring the goal closer;
           then plan again.
Without data the graph starts empty and grows by exploration: visited nodes propose unvisited candidate
places on a hexagonal lattice around them (the grid-cell lattice of the finest module); an unvisited
candidate carries a hopeful edge to the goal (its straight-line distance), so the cheapest behaviour is the
simplest route toward the most promising unexplored place: a physical best-first search that never repeats
a failed behaviour unchanged.
With data the nodes are dataset states, edges and lengths come from the learned controller's distance.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from ethogram.errors import EthogramError
from ethogram.search import graph as G
from ethogram.search import paths as P
from ethogram.search.harmonic import HarmonicConfig, encode, recognise, wave_vectors


@dataclass(frozen=True)
class SNSConfig:
    reach: float = 2.5  # steps: a node counts as reached within this controller distance
    patience: int = 8  # steps without progress on an edge: a failure
    progress_eps: float = 0.2  # steps: smaller improvements are not progress
    timeout_factor: float = 2.5  # an edge times out after factor * length + patience steps
    link: float = 16.0  # steps: nodes this close get (hypothesised / learned) edges
    goal_reach: float = 16.0  # steps: nodes this close to the goal get an edge to it
    max_out: int = 16  # at most this many learned out-edges per node (the nearest)
    insert_out: int = 0  # > 0: an inserted node gets edges to and from only this many of the nodes within `link`
    # in each direction (the nearest); 0: all of them. Bounds the edges a plan and a neighbourhood walk touch
    explore: bool = True  # propose candidate places around visited nodes (no-data mode)
    lattice: float = 12.5  # steps between candidate places (2.5 x-y units for the straight-line controller)
    hope: float = 1.5  # cost per step of the straight-line estimate from a candidate place to the goal
    prior_w: float = 0.5  # Hebbian weight of a hypothesised, untried edge
    recognition: float = 0.65  # harmonic similarity above which a state is a known node
    novelty: float = 6.0  # steps: with a learned controller, a state this far from every node is new
    mutate: bool = True  # ablation: False = frozen graph (no Hebbian changes, no insertions)
    pool: int = 3  # with data: dataset states sampled per node, the greedy cover's candidates
    node_filter: float = 0.0  # with data: only states whose learned distance to the state `filter_span` steps
    filter_span: int = 8  # later in their episode is >= node_filter x filter_span (not stuck or fallen); 0: all
    replan_on_reach: bool = True  # replan at every node (cheap without data); else only after failures
    passing: float = -1.0  # >= 0: a node also counts as reached once the agent is as close (learned steps, + this
    # slack) to what follows it on the plan (the next node, or the goal after the goal's node) as the node itself is:
    # a full-state target differs in posture from where the agent arrives, so its distance alone rarely drops to reach
    lookahead: float = 0.0  # > 0: the controller is asked for the farthest of the next few nodes of the plan within
    # this many learned steps of the agent (not only the target; as TTGS aims its policy): judging stays per node
    local_hops: int = 0  # > 0: where the agent stopped is matched against (and linked to) only the nodes within this
    # many edges of the edge it was on, not the whole graph: a failure costs O(neighbourhood) network calls
    hop_policy: bool = False  # the controller acts with its short-range policy (`act_subgoal`: HIQL's low level on
    # the target, without the high level that proposes subgoals toward far goals): every target is a nearby node
    planner: str = "astar"  # with data: "astar" (search.paths, a heuristic per goal kept across plans) or "dijkstra"
    # (one Dijkstra over the whole graph per goal at every step with plans: the reference; the same path costs)
    plan_share: float = 40.0  # astar: a goal within this cost of a goal with its own heuristic uses that one,
    # shifted (fewer reverse Dijkstras and repairs; a wider shift makes each search expand more)
    goal_match: float = 0.0  # > 0: a new episode whose goal is within this many learned steps of an earlier
    # episode's goal node plans to that node (its last leg still heads for its own goal), so goals that differ by
    # noise share one node and one exact heuristic (a learned controller); 0: a goal is located like any state
    hebb: G.HebbConfig = field(default_factory=G.HebbConfig)
    harmonic: HarmonicConfig = field(default_factory=HarmonicConfig)

    def __post_init__(self):
        if self.planner not in ("astar", "dijkstra"):
            raise EthogramError(f"unknown planner '{self.planner}'.",
                                "use --set planner=astar (the default) or --set planner=dijkstra")


def _nearest(d: np.ndarray, radius: float, k: int) -> np.ndarray:
    """Indices of the entries of d within `radius`, only the k smallest of them when k > 0."""
    ok = np.nonzero(d <= radius)[0]
    if 0 < k < len(ok):
        ok = ok[np.argpartition(d[ok], k - 1)[:k]]
    return ok


class Searcher:
    """The SNS agent for a batch of episodes: call it like a policy, `searcher(obs, goals) -> actions`.

    `success(obs, goals)` is the environment's goal test (the reward an online agent observes); episodes whose
    goal changes are new episodes. The graph is shared: what one episode learns, all use.
    """

    def __init__(self, graph: G.Graph, ctrl, cfg: SNSConfig, success=None, embed=None):
        self.g, self.ctrl, self.cfg = graph, ctrl, cfg
        if cfg.hop_policy and not ctrl.short_range:
            raise EthogramError(f"hop_policy=true needs a controller with a short-range policy (HIQL's low level); "
                                f"'{ctrl.name}' has none.", "drop --set hop_policy=true, or use a HIQL controller")
        self.success = success
        self.paths = P.GoalPaths(graph, cfg.hebb, share=cfg.plan_share)
        self.learned = bool(getattr(ctrl, "learned", False))  # distances and reach from the controller's training
        self.metric = bool(getattr(ctrl, "metric", False))  # distances from an embedding of each state (HILP's phi)
        self.embed = embed or getattr(ctrl, "embed", None)
        dim = graph.obs.shape[1] if self.embed is None else np.atleast_2d(self.embed(graph.obs[:1])).shape[1]
        self.omega = wave_vectors(cfg.harmonic, dim)
        self.b = 0
        self.t = 0
        self.events = {"reached": 0, "failures": 0, "inserted": 0, "candidates": 0, "replans": 0, "successes": 0,
                       "bridges": 0}
        # calls step every episode of the batch; plan: shortest paths; match: a state against the nodes (nearest
        # node, the edges of an inserted node)
        self.timing = {"calls": 0, "seconds": 0.0, "plan_seconds": 0.0, "match_seconds": 0.0}
        self._zs: dict[bytes, np.ndarray] = {}  # this step's embedded states (a metric controller), by their bytes
        self._rows: dict[bytes, np.ndarray] = {}  # and their learned steps to the nodes _col names
        self._col = np.zeros(0, np.int64)  # node id -> its column in the rows (-1: not measured)
        self._goal_ids: dict[int, None] = {}  # the nodes episodes' goals were located at, in order (`goal_match`)
        self._z = np.zeros((0, 0), np.float32)  # the nodes' metric embeddings (a metric controller only): the first
        self._zn = 0  # _zn rows are filled

    # ------------------------------------------------------------------ codes and places
    def code(self, obs: np.ndarray) -> np.ndarray:
        if self.embed is None:
            return np.zeros((len(np.atleast_2d(obs)), self.g.code.shape[1]), np.complex64)
        return encode(self.embed(np.atleast_2d(obs)), self.omega)

    def to_nodes(self, s: np.ndarray, ids: np.ndarray) -> np.ndarray:
        """Learned steps from state s to the nodes `ids`. With a metric embedding (HILP's phi) the nodes' embeddings
        are kept, so a query costs one network call and a product, not one call per node."""
        if self.metric:
            ids = np.asarray(ids, np.int64)
            row = self._rows.get(np.asarray(s, np.float64).tobytes())
            if row is None:
                return self.ctrl.steps_between(self._state_z(s), self._node_z()[ids])[0]
            out = np.empty(len(ids), np.float32)
            col = np.full(len(ids), -1)  # nodes `_embed_states` did not measure (inserted since): measured now
            inside = ids < len(self._col)
            col[inside] = self._col[ids[inside]]
            have = col >= 0
            out[have] = row[col[have]]
            if not have.all():
                out[~have] = self.ctrl.steps_between(self._state_z(s), self._node_z()[ids[~have]])[0]
            return out
        return self.ctrl.distance(np.repeat(s[None], len(ids), 0), self.g.obs[ids])

    def from_nodes(self, ids: np.ndarray, s: np.ndarray) -> np.ndarray:
        """Learned steps from the nodes `ids` to state s. A metric embedding's distance is symmetric (a norm of
        z(s) - z(g)): the same query as `to_nodes`, one row against the nodes, not the nodes against a padded
        column."""
        if self.metric:
            return self.to_nodes(s, ids)
        return self.ctrl.distance(self.g.obs[ids], np.repeat(s[None], len(ids), 0))

    def _state_z(self, s: np.ndarray) -> np.ndarray:
        """(1, dim) the metric embedding of state s: from this step's batch when `_embed_states` embedded it."""
        z = self._zs.get(np.asarray(s, np.float64).tobytes())
        return self.ctrl.embedding(s[None]) if z is None else z[None]

    def _embed_states(self, obs: np.ndarray, near: np.ndarray | None = None) -> None:
        """Embed this step's states that will be matched against the nodes, and measure their learned steps to the
        nodes `near` (default: every node), in one network call each, not one per state (a metric controller;
        `_forget_states` drops them)."""
        self._forget_states()
        if self.metric and len(obs):
            t0 = time.perf_counter()
            z = self.ctrl.embedding(obs)
            keys = [o.tobytes() for o in obs]
            self._zs = dict(zip(keys, z, strict=True))
            ids = np.arange(self.g.n) if near is None else np.asarray(near, np.int64)
            if len(ids):
                self._col = np.full(self.g.n, -1)  # node id -> its column in the rows
                self._col[ids] = np.arange(len(ids))
                self._rows = dict(zip(keys, self.ctrl.steps_between(z, self._node_z()[ids]), strict=True))
            self.timing["match_seconds"] += time.perf_counter() - t0

    def _forget_states(self) -> None:
        self._zs, self._rows = {}, {}

    def _put_z(self, k: int, z: np.ndarray) -> None:
        """Node k (the last one) gets the embedding z without a network call: an inserted state embedded already."""
        if self._zn == k:
            self._grow_z(k + 1, len(z))
            self._z[k] = z
            self._zn = k + 1

    def _grow_z(self, n: int, dim: int) -> None:
        if len(self._z) < n or self._z.shape[1] != dim:
            grown = np.zeros((max(n, 2 * len(self._z)), dim), np.float32)
            if self._zn:
                grown[: self._zn] = self._z[: self._zn]
            self._z = grown

    def _node_z(self) -> np.ndarray:
        """The metric embedding of every node, extended as nodes are inserted (into a buffer that doubles, so an
        insertion does not copy every node's embedding)."""
        have, n = self._zn, self.g.n
        if have < n:
            new = self.ctrl.embedding(self.g.obs[have: n])
            self._grow_z(n, new.shape[1])
            self._z[have: n] = new
            self._zn = n
        return self._z[:n]

    def _near(self, r: int | np.ndarray) -> np.ndarray | None:
        """With `local_hops`, the nodes around the current edges (node and target) of episode r, or of the
        episodes r: where a failure is matched and linked. None: the whole graph."""
        if not self.cfg.local_hops:
            return None
        return G.neighbourhood(self.g, np.r_[self.cur[r], self.target[r]], self.cfg.local_hops)

    def known_node(self, s: np.ndarray, radius: float | None = None, near: np.ndarray | None = None) -> int:
        """The node this state is (harmonic recognition, or learned distance with a learned controller), or -1.
        `near`: the only nodes to consider (default all)."""
        return self._match(s, radius, near)[0]

    def _match(self, s: np.ndarray, radius: float | None, near: np.ndarray | None) -> tuple[int, np.ndarray | None]:
        """`known_node`, and the learned steps from s to the nodes it considered (the graph's first n, or `near`);
        None where it measured none (harmonic recognition, an empty graph): an insertion among the same nodes
        reuses them."""
        t0 = time.perf_counter()
        try:
            g = self.g
            if g.n == 0:
                return -1, None
            if self.learned or self.embed is None:
                ids = np.arange(g.n) if near is None else np.asarray(near)
                if not len(ids):
                    return -1, None
                d = self.to_nodes(s, ids)
                k = int(np.argmin(d))
                return (int(ids[k]) if d[k] <= (self.cfg.reach if radius is None else radius) else -1), d
            return recognise(self.code(s)[0], g.code[: g.n], self.cfg.recognition)[0], None
        finally:
            self.timing["match_seconds"] += time.perf_counter() - t0

    def add_node(self, s: np.ndarray, visited: bool, near: np.ndarray | None = None,
                 out: np.ndarray | None = None) -> int:
        """Insert a node for state s with edges to and from the nodes within `link` (learned or hypothesised),
        among `near` when given. `out`: the learned steps from s to those nodes when `_match` measured them."""
        g, cfg = self.g, self.cfg
        k = int(G.add_nodes(g, s[None].astype(np.float32), self.code(s), visited)[0])
        if self.metric:
            self._put_z(k, self._state_z(s)[0])
        others = np.arange(g.n - 1) if near is None else np.asarray(near)
        if len(others):
            t0 = time.perf_counter()
            out = self.to_nodes(s, others) if out is None else out
            inn = out if self.metric else self.from_nodes(others, s)
            self.timing["match_seconds"] += time.perf_counter() - t0
            w = 1.0 if self.learned else cfg.prior_w
            o, i = _nearest(out, cfg.link, cfg.insert_out), _nearest(inn, cfg.link, cfg.insert_out)
            G.connect(g, k, others[o], out[o], w)
            G.connect(g, others[i], k, inn[i], w)
        return k

    def expand(self, k: int) -> None:
        """Propose unvisited candidate places on a hexagonal lattice around node k (no-data exploration)."""
        if not self.cfg.explore:
            return
        g = self.g
        g.visited[k] = True
        g.dead[k] = False
        step = self.cfg.lattice * getattr(self.ctrl, "unit", 0.2)
        angles = np.arange(6) * np.pi / 3 + np.pi / 6
        for a in angles:
            c = g.obs[k] + step * np.array([np.cos(a), np.sin(a)])
            if self.known_node(c) < 0:
                self.add_node(c, visited=False)
                self.events["candidates"] += 1

    # ------------------------------------------------------------------ episodes
    def _start(self, rows: np.ndarray, obs: np.ndarray, goals: np.ndarray) -> None:
        self._embed_states(np.concatenate([obs[rows], goals[rows]]))
        for r in rows:
            self.goals[r] = goals[r].copy()
            self._goal_d[r] = np.zeros(0)
            self.goal_node[r] = self._goal_place(goals[r])
            won = np.nonzero(self.g.goal_wins[: self.g.n])[0]  # goals reached before, near this one
            near = self.from_nodes(won, goals[r]) <= self.cfg.goal_reach
            self.goal_wins[r] = self.g.goal_wins[won[near]].max() if near.any() else 0
            self.done[r] = False
            self.best_goal[r] = np.inf
            self.cur[r] = self._locate(obs[r])
            self._plan(r, obs[r])
        self._forget_states()
        self._flush()

    def _goal_place(self, goal: np.ndarray) -> int:
        """The node an episode with this goal plans to: with `goal_match`, the nearest earlier goal node within it."""
        if self.cfg.goal_match > 0 and self._goal_ids and self.learned:
            ids = np.fromiter(self._goal_ids, np.int64)
            k, _ = self._match(goal, self.cfg.goal_match, ids)
            if k >= 0:
                return k
        k = self._locate(goal, visited=False)
        self._goal_ids[k] = None
        return k

    def _locate(self, s: np.ndarray, visited: bool = True) -> int:
        """The node for state s; a new one (a visited place, or the goal as a candidate place) if none is.
        With a learned controller a dataset node within `novelty` steps stands for the place."""
        k, d = self._match(s, self.cfg.novelty if self.learned else None, None)
        if k < 0 and (self.cfg.mutate or self.g.n == 0):
            k = self.add_node(s, visited=visited, out=d)
            self.events["inserted"] += 1
            if visited:
                self.expand(k)
        elif visited and self.cfg.mutate and not self.g.visited[k]:
            self.expand(k)
        elif k < 0:  # frozen graph: attach to the nearest node
            k = int(np.argmin(self.to_nodes(s, np.arange(self.g.n)) if d is None else d))
        return k

    def _goal_cost(self, r: int) -> np.ndarray:
        """Where a behaviour may end: the goal's node (cost 0) and, exploring, every unvisited candidate place
        at the hopeful cost `hope` x its straight-line distance to the goal."""
        g, cfg = self.g, self.cfg
        cost = np.full(g.n, np.inf)
        if cfg.explore:
            have = len(self._goal_d[r])
            if have < g.n:  # nodes inserted since the episode started: measure their distance to this goal
                new = self.ctrl.distance(g.obs[have: g.n], np.repeat(self.goals[r][None], g.n - have, 0))
                self._goal_d[r] = np.concatenate([self._goal_d[r], new])
            # a goal reached before makes exploring dearer: known routes first (effectiveness before novelty)
            hope = cfg.hope * (1 + self.goal_wins[r])
            cost = np.where(g.visited[: g.n] | g.dead[: g.n], np.inf, hope * self._goal_d[r])
        cost[self.goal_node[r]] = 0.0
        return cost

    def _plan(self, r: int, s: np.ndarray) -> None:
        """Episode r needs a new behaviour: planned in `_flush`, with every other episode that needs one this step."""
        self.events["replans"] += 1
        self._pending[r] = True

    def _flush(self) -> None:
        """Plan every pending episode on the graph as this step left it: the episodes with the same goal (the same
        goal cost) share one cost-to-go field, and all fields come from one Dijkstra call."""
        rows = np.nonzero(self._pending)[0]
        if not len(rows):
            return
        t0 = time.perf_counter()
        self._pending[:] = False
        if not self.cfg.explore and self.cfg.planner == "astar":
            for r in rows:
                self._set_path(r, self._astar(int(self.cur[r]), int(self.goal_node[r])))
            self.timing["plan_seconds"] += time.perf_counter() - t0
            return
        groups: dict[tuple, list[int]] = {}
        for r in rows:
            key = (int(self.goal_node[r]),) if not self.cfg.explore else \
                (int(self.goal_node[r]), int(self.goal_wins[r]), self.goals[r].tobytes())
            groups.setdefault(key, []).append(int(r))
        members = list(groups.values())
        costs = np.stack([self._goal_cost(rs[0]) for rs in members])
        ctg, nxt = G.cost_to_go_many(self.g, self.cfg.hebb, costs)
        if not self.cfg.explore and self.cfg.mutate:  # a start no behaviour leads out of gets a bridge
            redo = []
            for k, rs in enumerate(members):
                bridged = [self._bridge(self.cur[r], ctg[k]) for r in rs
                           if self.cur[r] >= 0 and not np.isfinite(ctg[k, self.cur[r]])]
                if any(bridged):
                    redo.append(k)
            if redo:
                ctg[redo], nxt[redo] = G.cost_to_go_many(self.g, self.cfg.hebb, costs[redo])
        for k, rs in enumerate(members):
            for r in rs:
                cur = self.cur[r]
                self._set_path(r, G.path_from(cur, nxt[k]) if cur >= 0 and np.isfinite(ctg[k, cur]) else [cur])
        self.timing["plan_seconds"] += time.perf_counter() - t0

    def _astar(self, cur: int, goal: int) -> list[int]:
        """The cheapest path cur -> goal's node by A* (search.paths); a bridge first where none leads out of cur."""
        if cur < 0:
            return [cur]
        path = self.paths.path(cur, goal)
        if path is None and self.cfg.mutate and self._bridge(cur, np.where(self.paths.reaching(goal), 0.0, np.inf)):
            path = self.paths.path(cur, goal)
        return path or [cur]

    def _set_path(self, r: int, path: list[int]) -> None:
        self.path[r] = path
        self.ptr[r] = 1
        self.plan_best[r] = self.best_goal[r]
        self._leg(r, path[1] if len(path) > 1 else -1)

    def _bridge(self, cur: int, ctg: np.ndarray) -> bool:
        """No behaviour leads from node `cur` to the goal (a graph of sampled states need not be strongly connected,
        and with data there is no exploration to fix it): hypothesise an edge to the nearest node (by the controller's
        distance) from which the goal can be reached. Returns whether one was added."""
        ok = np.nonzero(np.isfinite(ctg))[0]  # cur is not among them: no path leads from it
        if not len(ok):
            return False
        d = self.to_nodes(self.g.obs[cur], ok)
        k = int(np.argmin(d))
        G.connect(self.g, cur, ok[k], max(float(d[k]), 1.0), self.cfg.prior_w)
        self.events["bridges"] += 1
        return True

    def _leg(self, r: int, target: int) -> None:
        self.target[r] = target
        self.leg_t0[r] = self.t
        self.leg_last[r] = self.t
        self.leg_best[r] = np.inf
        expected = G.length_of(self.g, self.cur[r], target) if target >= 0 and self.cur[r] >= 0 else np.inf
        if target < 0:
            expected = self.cfg.link
        self.leg_budget[r] = self.cfg.timeout_factor * min(expected, 4 * self.cfg.link) + self.cfg.patience

    def _target_obs(self, goals: np.ndarray) -> np.ndarray:
        tgt = self.g.obs[np.maximum(self.target, 0)].astype(np.float64)
        return np.where((self.target < 0)[:, None], goals, tgt)

    def _reached(self, r: int, s: np.ndarray) -> None:
        g, cfg = self.g, self.cfg
        i, j = self.cur[r], self.target[r]
        steps = self.t - self.leg_t0[r]
        self.events["reached"] += 1
        if cfg.mutate and i >= 0:
            G.potentiate(g, i, j, steps, cfg.hebb)
        if not g.visited[j]:
            self.expand(j) if cfg.mutate else None
        self.cur[r] = j
        if cfg.replan_on_reach:
            self._plan(r, s)
            return
        self.ptr[r] += 1
        path = self.path[r]
        if self.ptr[r] < len(path):
            self._leg(r, path[self.ptr[r]])
        elif j == self.goal_node[r]:
            self._leg(r, -1)  # at the goal's place: the last leg heads for the goal itself
        else:
            self._plan(r, s)  # the behaviour ended at a place that was only a step of the search

    def _failed(self, r: int, s: np.ndarray) -> None:
        g, cfg = self.g, self.cfg
        i, j = self.cur[r], self.target[r]
        self.events["failures"] += 1
        if cfg.mutate:
            if j >= 0 and i >= 0:
                G.depress(g, i, j, cfg.hebb)
            if self.best_goal[r] >= self.plan_best[r] - cfg.progress_eps:
                G.habituate(g, self.path[r][: self.ptr[r] + 1], cfg.hebb)
            near = self._near(r)
            k, d = self._match(s, None, near)
            candidate = j >= 0 and not g.visited[j] and not g.dead[j] and j != self.goal_node[r]
            if candidate and k == j:  # as close as one gets to that place: it moves to where the agent is
                g.obs[j] = s
                if self._zn > j:  # its kept embedding moves with it
                    self._z[j] = self._state_z(s)[0]
                    if j < len(self._col):  # this step's rows measured j where it was: measured again on demand
                        self._col[j] = -1
                g.code[j] = self.code(s)[0]
                G.potentiate(g, i, j, self.t - self.leg_t0[r], cfg.hebb) if i >= 0 else None
            elif j >= 0 and k == i:  # no way toward j from here at all: every input of j weakens strongly
                G.weaken_inputs(g, j, 1.0 - cfg.hebb.rho)
                g.dead[j] = candidate  # a candidate place behind a wall is given up
            if k < 0:  # progress stopped at a new place: it becomes a node, reached from i
                k = self.add_node(s, visited=True, near=near, out=d)
                self.events["inserted"] += 1
                if i >= 0:
                    G.potentiate(g, i, k, self.t - self.leg_t0[r], cfg.hebb)
                self.expand(k)
            elif not g.visited[k] and not g.dead[k] and k != self.goal_node[r]:
                self.expand(k)  # stopped at a candidate place: it is visited now
            self.cur[r] = k
        self._plan(r, s)

    def __call__(self, obs: np.ndarray, goals: np.ndarray) -> np.ndarray:
        t0 = time.perf_counter()
        actions = self._step(obs, goals)
        self.timing["calls"] += 1
        self.timing["seconds"] += time.perf_counter() - t0
        return actions

    def _step(self, obs: np.ndarray, goals: np.ndarray) -> np.ndarray:
        obs = np.asarray(obs, np.float64)
        goals = np.asarray(goals, np.float64)
        d = self.g.obs.shape[1]
        if obs.ndim != 2 or obs.shape[1] != d:
            raise EthogramError(f"the search agent expects observations of shape (batch, {d}), got {obs.shape}.")
        if goals.shape != obs.shape:
            raise EthogramError(f"a goal prompt for the search agent is an observation of shape (batch, {d}); "
                                f"got goals of shape {goals.shape} for observations {obs.shape}.",
                                "give the goal as the observation at the goal (x, y for pointmaze)")
        if self.b != len(obs):
            self._alloc(len(obs))
        new = np.nonzero(np.any(goals != self.goals, axis=-1) | self.fresh)[0]
        self.fresh[:] = False
        if len(new):
            self._start(new, obs, goals)
        live = ~self.done
        if self.success is not None:
            hit = live & np.asarray(self.success(obs, goals), bool)
            for r in np.nonzero(hit)[0]:
                self.events["successes"] += 1
                self.done[r] = True
                if self.cfg.mutate:
                    self.g.goal_wins[self.goal_node[r]] += 1
                i, j = self.cur[r], self.target[r]
                if self.cfg.mutate and i >= 0 and j >= 0:  # the goal came during the leg i -> j
                    G.potentiate(self.g, i, j, self.t - self.leg_t0[r], self.cfg.hebb)
            live &= ~hit
        d = self.ctrl.distance(obs, self._target_obs(goals))
        gd = self.ctrl.distance(obs, goals)
        self.best_goal = np.minimum(self.best_goal, np.where(live, gd, np.inf))
        reached = live & (self.target >= 0) & (d <= self.cfg.reach)
        if self.cfg.passing >= 0:
            reached |= self._passed(obs, goals, live & ~reached)
        for r in np.nonzero(reached)[0]:
            self._reached(r, obs[r])
        if self.cfg.explore and self.cfg.mutate:
            self._visit_passing(obs, live)
        progress = live & ~reached & (d < self.leg_best - self.cfg.progress_eps)
        self.leg_last = np.where(progress, self.t, self.leg_last)
        self.leg_best = np.where(progress, d, self.leg_best)
        stuck = live & ~reached & ((self.t - self.leg_last > self.cfg.patience)
                                   | (self.t - self.leg_t0 > self.leg_budget))
        rows = np.nonzero(stuck)[0]
        if len(rows) and self.metric:  # measured where each will be matched: around its edge with `local_hops`
            self._embed_states(obs[rows], self._near(rows))
        for r in rows:
            self._failed(r, obs[r])
        self._forget_states()
        self._flush()
        self.t += 1
        act = self.ctrl.act_subgoal if self.cfg.hop_policy else self.ctrl.act
        return np.clip(act(obs, self._aim(obs, goals)), -1.0, 1.0)

    LOOKAHEAD_NODES = 4  # how many nodes past the target `lookahead` considers

    def _aim(self, obs: np.ndarray, goals: np.ndarray) -> np.ndarray:
        """What the controller is asked for: the target (node or goal), or with `lookahead` the farthest of the next
        nodes of the plan that is within `lookahead` learned steps of the agent."""
        aim = self._target_obs(goals)
        if self.cfg.lookahead <= 0:
            return aim
        rows, nodes = [], []
        for r in np.nonzero(~self.done & (self.target >= 0))[0]:
            p, k = self.path[r], self.ptr[r]
            if k < len(p) and p[k] == self.target[r]:
                for q in p[k + 1: k + 1 + self.LOOKAHEAD_NODES]:
                    rows.append(r)
                    nodes.append(q)
        if not rows:
            return aim
        rows, nodes = np.asarray(rows), np.asarray(nodes)
        ok = self.ctrl.distance(obs[rows], self.g.obs[nodes]) <= self.cfg.lookahead
        for r, q in zip(rows[ok], nodes[ok], strict=True):  # in path order: the last one that is near wins
            aim[r] = self.g.obs[q]
        return aim

    def _passed(self, obs: np.ndarray, goals: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """Episodes whose target node is passed: the agent is at least as close to what the plan heads for after it
        (the next node, or the goal when the target is the goal's node) as the target node is, within `passing`."""
        out = np.zeros(len(obs), bool)
        after = np.full(len(obs), -2)  # -2: nothing after the target; -1: the goal itself; else a node
        for r in np.nonzero(rows & (self.target >= 0))[0]:
            p, k = self.path[r], self.ptr[r]
            if k + 1 < len(p) and p[k] == self.target[r]:
                after[r] = p[k + 1]
            elif self.target[r] == self.goal_node[r]:
                after[r] = -1
        r = np.nonzero(after > -2)[0]
        if not len(r):
            return out
        nxt = np.where((after[r] >= 0)[:, None], self.g.obs[np.maximum(after[r], 0)], goals[r])
        here = self.ctrl.distance(obs[r], nxt)
        there = self.ctrl.distance(self.g.obs[self.target[r]], nxt)
        out[r] = here <= there + self.cfg.passing
        return out

    def _visit_passing(self, obs: np.ndarray, live: np.ndarray) -> None:
        """Candidate places the agent passes within reach of become visited (and propose their neighbours)."""
        g = self.g
        cand = np.nonzero(~g.visited[: g.n] & ~g.dead[: g.n])[0]
        if not len(cand):
            return
        rows = np.nonzero(live)[0]
        if not len(rows):
            return
        d = self.ctrl.distance(np.repeat(obs[rows], len(cand), 0), np.tile(g.obs[cand], (len(rows), 1)))
        for r, k in zip(*np.nonzero(d.reshape(len(rows), len(cand)) <= self.cfg.reach), strict=True):
            if not g.visited[cand[k]] and cand[k] != self.target[rows[r]]:
                self.expand(int(cand[k]))

    def _alloc(self, b: int) -> None:
        self.b = b
        self.goals = np.full((b, self.g.obs.shape[1]), np.nan)
        self.fresh = np.ones(b, bool)
        self._pending = np.zeros(b, bool)
        self.done = np.zeros(b, bool)
        self.cur = np.full(b, -1)
        self.target = np.full(b, -1)
        self.path: list[list[int]] = [[] for _ in range(b)]
        self.ptr = np.zeros(b, int)
        self.leg_t0 = np.zeros(b, int)
        self.leg_last = np.zeros(b, int)
        self.leg_best = np.full(b, np.inf)
        self.leg_budget = np.zeros(b)
        self.best_goal = np.full(b, np.inf)
        self.plan_best = np.full(b, np.inf)
        self._goal_d: list[np.ndarray] = [np.zeros(0) for _ in range(b)]
        self.goal_node = np.full(b, -1)
        self.goal_wins = np.zeros(b, int)

    def reset(self) -> None:
        """Forget the episodes (not the graph): the next call starts new ones."""
        self.b = 0
