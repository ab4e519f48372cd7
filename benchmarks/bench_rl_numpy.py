#!/usr/bin/python3
"""NumPy baseline for the vectorised trading environment (kernels/rlenv.h, single asset,
discrete actions): N environments in struct-of-arrays NumPy state, stepped together with
whole-array operations (no per-environment Python loop), as a NumPy/Gymnasium vector env
is usually written.

Market: S=16 symbols x T=2520 bars, simple returns r ~ Normal(0, 0.01) from
default_rng(2026), r[:, 0] = 0; feature log1p(r) as float32. Each env draws its own
(symbol, start) uniformly over all pairs with start in [W-1, T-2-H] (W=32, H=252).
Step at decision bar t: p = action - 1 in {-1, 0, +1};
reward = p r[s, t+1] - 3e-4 |p - p_prev| (1 bp commission + 2 bp half spread);
equity *= 1 + reward; terminated = equity <= 0.5; truncated = steps == H and not
terminated; a finished env writes its final observation and resets at once (new symbol
and start, flat, equity 1). Observation: feat[s, t-31 .. t] and the position (D=33), or
with the unrealised P&L (equity / entry_equity - 1) and time in trade
((steps - entry_step) / H), both 0 when flat (D=35: the PPO benchmark's, bench_rl_torch.py).

Timed (single-threaded; NumPy runs these element-wise operations on one core), for a
pre-generated uniform random action stream:
  numpy_rlenv_step      the step alone: rewards, flags, entry bookkeeping, resets
  numpy_rlenv_step_obs  the step plus the (N, 33) float32 observations and final observations
Throughput in env-steps/s (N x steps / seconds), median of the repeats; per-step latency
p50/p99 over every step of every repeat. Model of bytes per env-step (the C layout:
int32 sym/t/steps/entry_step, float pos, double equity/entry_equity): step = action 4 +
return 4 + state read 36 + state written 20 (t, steps, pos, equity) + reward 4 + flags 2
= 70 B; with observation + window read 128 + observation written 132 = 330 B.
Before timing, the vectorised env is checked against a per-env scalar loop on a volatile
market where both terminations and truncations occur.

Usage: bench_rl_numpy.py [--envs N] [--steps K] [--repeats R]     (run with /usr/bin/python3)
"""
import argparse
import json
import os
import resource
import socket
import statistics
import time

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

W, H, COST, MIN_EQUITY = 32, 252, 3e-4, 0.5
POS = np.array([-1.0, 0.0, 1.0])  # action 0/1/2 -> short/flat/long


def make_market(s=16, t=2520, sd=0.01, seed=2026):
    """Simple returns (float64, S x T) and the observation feature log1p(r) (float32)."""
    r = np.random.default_rng(seed).normal(0.0, sd, (s, t))
    r[:, 0] = 0.0
    return r, np.log1p(r).astype(np.float32)


class VecEnv:
    """N single-asset envs over one read-only market; state is struct of arrays."""

    def __init__(self, n, ret, feat, dim=33, seed=7):
        self.n, self.ret, self.dim = n, ret, dim
        self.ret_flat, self.ntime = ret.ravel(), ret.shape[1]
        self.win = sliding_window_view(feat, W, axis=1)  # [s, t-W+1] = feat[s, t-W+1 .. t], no copy
        self.lo, self.nstart = W - 1, ret.shape[1] - 2 - H - (W - 1) + 1  # starts W-1 .. T-2-H
        self.npairs = ret.shape[0] * self.nstart
        self.rng = np.random.default_rng(seed)
        self.sym = np.zeros(n, np.intp)
        self.t = np.zeros(n, np.intp)
        self.steps = np.zeros(n, np.intp)
        self.entry_step = np.zeros(n, np.intp)
        self.pos = np.zeros(n)
        self.pos_prev = np.zeros(n)
        self.equity = np.ones(n)
        self.entry_equity = np.ones(n)
        self.reset(np.arange(n))

    def reset(self, idx):
        slot = self.rng.integers(0, self.npairs, idx.size)
        self.sym[idx], self.t[idx] = slot // self.nstart, self.lo + slot % self.nstart
        self.steps[idx] = self.entry_step[idx] = 0
        self.pos[idx] = 0.0
        self.equity[idx] = self.entry_equity[idx] = 1.0

    def observe(self, out, idx=None):
        """Writes the observations of envs idx (all when None) to out [len(idx) or N, dim]."""
        if idx is not None:
            tmp = np.empty((idx.size, self.dim), np.float32)
            self._obs(tmp, self.sym[idx], self.t[idx], self.pos[idx], self.equity[idx],
                      self.entry_equity[idx], self.steps[idx], self.entry_step[idx])
            out[idx] = tmp
        else:
            self._obs(out, self.sym, self.t, self.pos, self.equity, self.entry_equity, self.steps,
                      self.entry_step)

    def _obs(self, out, sym, t, pos, eq, eeq, steps, estep):
        out[:, :W] = self.win[sym, t - (W - 1)]
        out[:, W] = pos
        if self.dim == W + 3:
            flat = pos == 0
            out[:, W + 1] = np.where(flat, 0.0, eq / eeq - 1.0)
            out[:, W + 2] = np.where(flat, 0.0, (steps - estep) / H)

    def step(self, action, obs=None, final_obs=None):
        """One step of every env; returns (reward, terminated, truncated)."""
        p = POS.take(action)
        r = self.ret_flat.take(self.sym * self.ntime + self.t + 1)  # ret[sym, t+1], 2x faster
        self.pos_prev[:] = self.pos
        rew = p * r - COST * np.abs(p - self.pos_prev)
        enter = (p != 0) & (p != self.pos_prev)  # a new or flipped position (p in {-1, 0, 1})
        self.entry_equity = np.where(enter, self.equity, self.entry_equity)
        self.entry_step = np.where(enter, self.steps, self.entry_step)
        self.pos[:] = p
        self.equity *= 1.0 + rew
        self.t += 1
        self.steps += 1
        term = self.equity <= MIN_EQUITY
        trunc = (self.steps >= H) & ~term
        done = term | trunc
        if done.any():
            idx = np.flatnonzero(done)
            if final_obs is not None:
                self.observe(final_obs, idx)
            self.reset(idx)
        if obs is not None:
            self.observe(obs)
        return rew, term, trunc


def check():
    """The vectorised env against a per-env scalar loop (the definition, read by eye), on a
    volatile market (sd 0.05) so that envs both go bust and reach the horizon. Tolerances:
    reward and equity are the same float64 operations in the same order (1e-12 is slack for
    none); observations are float32 casts of those (2e-7 relative = about 1 ulp)."""
    ret, feat = make_market(4, 600, sd=0.05, seed=11)
    n, k = 16, 1200
    env = VecEnv(n, ret, feat, dim=W + 3, seed=3)
    acts = np.random.default_rng(5).integers(0, 3, (k, n))
    obs, fin = np.zeros((n, W + 3), np.float32), np.zeros((n, W + 3), np.float32)
    ref = [dict(s=int(env.sym[i]), t=int(env.t[i]), k=0, p=0.0, e=1.0, ee=1.0, ek=0) for i in range(n)]
    nterm = ntrunc = 0

    def robs(g):
        inp = g["p"] != 0.0
        return np.array(list(feat[g["s"], g["t"] - W + 1:g["t"] + 1]) + [g["p"], g["e"] / g["ee"] - 1.0 if inp else 0.0,
                        (g["k"] - g["ek"]) / H if inp else 0.0], np.float32)

    for j in range(k):
        rew, term, trunc = env.step(acts[j], obs, fin)
        for i, g in enumerate(ref):
            p = float(acts[j, i] - 1)
            rr = p * ret[g["s"], g["t"] + 1] - COST * abs(p - g["p"])
            if p != 0.0 and (g["p"] == 0.0 or (g["p"] > 0) != (p > 0)):
                g["ee"], g["ek"] = g["e"], g["k"]
            g["p"], g["e"], g["t"], g["k"] = p, g["e"] * (1.0 + rr), g["t"] + 1, g["k"] + 1
            te = g["e"] <= MIN_EQUITY
            tr = not te and g["k"] == H
            assert abs(rew[i] - rr) <= 1e-12 and bool(term[i]) == te and bool(trunc[i]) == tr, (j, i)
            if te or tr:
                nterm, ntrunc = nterm + te, ntrunc + tr
                assert np.allclose(fin[i], robs(g), rtol=2e-7, atol=1e-7), (j, i, fin[i], robs(g))
                s, t = int(env.sym[i]), int(env.t[i])
                assert 0 <= s < 4 and W - 1 <= t <= 600 - 2 - H, (s, t)
                g.update(s=s, t=t, k=0, p=0.0, e=1.0, ee=1.0, ek=0)
            assert abs(env.equity[i] - g["e"]) <= 1e-12 * g["e"], (j, i)
            assert np.allclose(obs[i], robs(g), rtol=2e-7, atol=1e-7), (j, i, obs[i], robs(g))
    assert nterm > 0 and ntrunc > 0, (nterm, ntrunc)
    return nterm, ntrunc


def peak_rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def run(ret, feat, n, k, repeats, with_obs):
    acts = np.random.default_rng(99).integers(0, 3, (k, n), dtype=np.int8)  # not timed
    obs, fin = np.zeros((n, W + 1), np.float32), np.zeros((n, W + 1), np.float32)
    secs, lat = [], []
    for rep in range(repeats):
        env = VecEnv(n, ret, feat, dim=W + 1, seed=rep)
        o, f = (obs, fin) if with_obs else (None, None)
        for j in range(min(k, 20)):  # warm-up
            env.step(acts[j], o, f)
        env = VecEnv(n, ret, feat, dim=W + 1, seed=rep)
        clock = time.perf_counter
        t0 = last = clock()
        for j in range(k):
            env.step(acts[j], o, f)
            now = clock()
            lat.append(now - last)
            last = now
        secs.append(last - t0)
    return statistics.median(secs), np.percentile(lat, 50), np.percentile(lat, 99)


def report(bench, n, k, sec, p50, p99, nbytes):
    ips = n * k / sec
    size = "N=%d steps=%d S=16 T=2520 D=%d" % (n, k, W + 1)
    print("%-22s %-9s %-32s %10.3f %12.4g %9.1f %9.1f %7.2f" % (bench, "numpy-1t", size, sec * 1e3, ips, p50 * 1e6,
                                                              p99 * 1e6, ips * nbytes * 1e-9))
    print("JSON " + json.dumps({"bench": bench, "backend": "numpy-1t", "threads": 1, "size": size, "median_s": sec,
                                "items_per_s": ips, "unit": "env-steps", "p50_us": p50 * 1e6, "p99_us": p99 * 1e6,
                                "model_bytes_per_item": nbytes, "gb_per_s": ips * nbytes * 1e-9,
                                "peak_rss_mb": round(peak_rss_mb(), 1), "impl": "numpy", "numpy": np.__version__}),
          flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--envs", type=int, default=4096)
    ap.add_argument("--steps", type=int, default=2520)
    ap.add_argument("--repeats", type=int, default=3)
    a = ap.parse_args()
    print("# RL env (NumPy %s) on %s (%d cores online)" % (np.__version__, socket.gethostname(), os.cpu_count()))
    nterm, ntrunc = check()
    print("# check vs per-env loop: ok (%d terminations, %d truncations)" % (nterm, ntrunc))
    print("%-22s %-9s %-32s %10s %12s %9s %9s %7s" % ("benchmark", "backend", "size", "median ms", "env-steps/s",
                                                     "p50 us", "p99 us", "GB/s"))
    ret, feat = make_market()
    for bench, with_obs, nbytes in (("numpy_rlenv_step", False, 70), ("numpy_rlenv_step_obs", True, 330)):
        sec, p50, p99 = run(ret, feat, a.envs, a.steps, a.repeats, with_obs)
        report(bench, a.envs, a.steps, sec, p50, p99, nbytes)


if __name__ == "__main__":
    main()
