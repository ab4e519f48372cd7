#!/usr/bin/python3
"""PyTorch baseline for PPO training on the vectorised trading environment: CleanRL's
ppo.py (discrete actions) on the NumPy env of bench_rl_numpy.py with its 35-float
observations (window of 32 log returns, position, unrealised P&L, time in trade).

Model of work, per update (8192 env steps = 64 envs x 128 steps):
  rollout  128 x [actor and critic forward on 64 observations (no grad), categorical
           sample, one NumPy env step, and for truncated envs the critic on their final
           observations (the truncation fix: reward += gamma V(final_obs))]
  update   GAE (gamma 0.99, lambda 0.95, bootstrapped from V(next_obs)), flatten, then
           4 epochs x 4 minibatches of 2048: forward, clipped policy loss (clip 0.2),
           clipped value loss (x 0.5), entropy bonus 0.01, per-minibatch advantage
           normalisation, backward, global-norm clipping at 0.5, Adam (lr 2.5e-4 annealed
           linearly to 0 over the run, eps 1e-5).
Networks: separate actor and critic MLPs 35-64-64-(3 logits | 1 value), orthogonal init as
CleanRL (gain sqrt 2, last layers 0.01 / 1, zero biases). CleanRL uses tanh; ReLU here
to match the C network.

Throughput: samples/s = env steps consumed per wall second (rollout + update), over
--updates updates after one untimed warm-up update, with torch.set_num_threads(1) and
with --threads (default all cores); also the rollout-only and update-only rates (the
same samples over each phase's own time). CPU only. Exits 0 with a `# skipped` line
when torch is not importable.

Usage: bench_rl_torch.py [--threads N] [--updates U]   (Debian: apt-get install python3-torch)
"""
import argparse
import json
import os
import resource
import socket
import statistics
import sys
import time

try:
    import numpy as np
    import torch
    import torch.nn as nn
    from torch.distributions.categorical import Categorical
except ImportError as e:
    print("# skipped: %s not importable by %s (Debian: python3-numpy python3-torch)" % (e.name, sys.executable))
    sys.exit(0)

from bench_rl_numpy import VecEnv, make_market, W  # the same env; this folder is sys.path[0]

NUM_ENVS, NUM_STEPS, EPOCHS, MINIBATCHES = 64, 128, 4, 4
LR, GAMMA, LAMBDA, CLIP, ENT, VF, MAX_GRAD = 2.5e-4, 0.99, 0.95, 0.2, 0.01, 0.5, 0.5
OBS_DIM, BATCH = W + 3, NUM_ENVS * NUM_STEPS
MINIBATCH = BATCH // MINIBATCHES


def layer_init(layer, std=np.sqrt(2), bias_const=0.0):
    torch.nn.init.orthogonal_(layer.weight, std)
    torch.nn.init.constant_(layer.bias, bias_const)
    return layer


class Agent(nn.Module):
    def __init__(self):
        super().__init__()
        self.critic = nn.Sequential(layer_init(nn.Linear(OBS_DIM, 64)), nn.ReLU(), layer_init(nn.Linear(64, 64)),
                                    nn.ReLU(), layer_init(nn.Linear(64, 1), std=1.0))
        self.actor = nn.Sequential(layer_init(nn.Linear(OBS_DIM, 64)), nn.ReLU(), layer_init(nn.Linear(64, 64)),
                                   nn.ReLU(), layer_init(nn.Linear(64, 3), std=0.01))

    def get_value(self, x):
        return self.critic(x)

    def get_action_and_value(self, x, action=None):
        probs = Categorical(logits=self.actor(x))
        if action is None:
            action = probs.sample()
        return action, probs.log_prob(action), probs.entropy(), self.critic(x)


def train(updates):
    """Warm-up update + `updates` timed ones; returns per-update rollout and update seconds
    and the last update's diagnostics."""
    torch.manual_seed(2026)
    rng = np.random.default_rng(2026)
    ret, feat = make_market()
    env = VecEnv(NUM_ENVS, ret, feat, dim=OBS_DIM, seed=1)
    agent = Agent()
    optimizer = torch.optim.Adam(agent.parameters(), lr=LR, eps=1e-5)
    obs = torch.zeros((NUM_STEPS, NUM_ENVS, OBS_DIM))
    actions = torch.zeros((NUM_STEPS, NUM_ENVS))
    logprobs, rewards, dones, values = (torch.zeros((NUM_STEPS, NUM_ENVS)) for _ in range(4))
    obs_np, final_np = np.zeros((NUM_ENVS, OBS_DIM), np.float32), np.zeros((NUM_ENVS, OBS_DIM), np.float32)
    env.observe(obs_np)
    next_obs, next_done = torch.Tensor(obs_np), torch.zeros(NUM_ENVS)
    total = updates + 1
    t_roll, t_upd, episodes = [], [], 0
    for update in range(1, total + 1):
        optimizer.param_groups[0]["lr"] = (1.0 - (update - 1.0) / total) * LR
        t0 = time.perf_counter()
        for step in range(NUM_STEPS):
            obs[step] = next_obs
            dones[step] = next_done
            with torch.no_grad():
                action, logprob, _, value = agent.get_action_and_value(next_obs)
                values[step] = value.flatten()
            actions[step] = action
            logprobs[step] = logprob
            rew, term, trunc = env.step(action.numpy(), obs_np, final_np)
            if trunc.any():  # bootstrap the value of the cut-off episodes
                idx = np.flatnonzero(trunc)
                with torch.no_grad():
                    rew[idx] += GAMMA * agent.get_value(torch.from_numpy(final_np[idx])).numpy().ravel()
            done = term | trunc
            episodes += int(done.sum())
            rewards[step] = torch.tensor(rew, dtype=torch.float32)
            next_obs, next_done = torch.Tensor(obs_np), torch.Tensor(done.astype(np.float32))
        t1 = time.perf_counter()
        with torch.no_grad():
            next_value = agent.get_value(next_obs).reshape(1, -1)
            advantages = torch.zeros_like(rewards)
            lastgaelam = 0
            for t in reversed(range(NUM_STEPS)):
                if t == NUM_STEPS - 1:
                    nextnonterminal, nextvalues = 1.0 - next_done, next_value
                else:
                    nextnonterminal, nextvalues = 1.0 - dones[t + 1], values[t + 1]
                delta = rewards[t] + GAMMA * nextvalues * nextnonterminal - values[t]
                advantages[t] = lastgaelam = delta + GAMMA * LAMBDA * nextnonterminal * lastgaelam
            returns = advantages + values
        b_obs, b_logprobs, b_actions = obs.reshape((-1, OBS_DIM)), logprobs.reshape(-1), actions.reshape(-1)
        b_adv, b_returns, b_values = advantages.reshape(-1), returns.reshape(-1), values.reshape(-1)
        b_inds = np.arange(BATCH)
        clipfracs = []
        for epoch in range(EPOCHS):
            rng.shuffle(b_inds)
            for start in range(0, BATCH, MINIBATCH):
                mb = b_inds[start:start + MINIBATCH]
                _, newlogprob, entropy, newvalue = agent.get_action_and_value(b_obs[mb], b_actions.long()[mb])
                logratio = newlogprob - b_logprobs[mb]
                ratio = logratio.exp()
                with torch.no_grad():
                    approx_kl = ((ratio - 1) - logratio).mean()
                    clipfracs.append(((ratio - 1.0).abs() > CLIP).float().mean().item())
                mb_adv = b_adv[mb]
                mb_adv = (mb_adv - mb_adv.mean()) / (mb_adv.std() + 1e-8)
                pg_loss = torch.max(-mb_adv * ratio, -mb_adv * torch.clamp(ratio, 1 - CLIP, 1 + CLIP)).mean()
                newvalue = newvalue.view(-1)
                v_unclipped = (newvalue - b_returns[mb]) ** 2
                v_clipped = b_values[mb] + torch.clamp(newvalue - b_values[mb], -CLIP, CLIP)
                v_loss = 0.5 * torch.max(v_unclipped, (v_clipped - b_returns[mb]) ** 2).mean()
                entropy_loss = entropy.mean()
                loss = pg_loss - ENT * entropy_loss + v_loss * VF
                optimizer.zero_grad()
                loss.backward()
                nn.utils.clip_grad_norm_(agent.parameters(), MAX_GRAD)
                optimizer.step()
        t2 = time.perf_counter()
        if update > 1:  # update 1 is the warm-up
            t_roll.append(t1 - t0)
            t_upd.append(t2 - t1)
    diag = dict(pg_loss=pg_loss.item(), v_loss=v_loss.item(), entropy=entropy_loss.item(), approx_kl=approx_kl.item(),
                clipfrac=float(np.mean(clipfracs)), episodes=episodes)
    assert all(np.isfinite(v) for v in diag.values()), diag
    assert diag["entropy"] > 0.0, diag
    return t_roll, t_upd, diag


def peak_rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def report(bench, backend, n, sec, samples, per_update):
    size = "envs=%d steps=%d D=%d 64-64 x%d updates" % (NUM_ENVS, NUM_STEPS, OBS_DIM, n)
    ips = samples / sec
    p50, p99 = np.percentile(per_update, 50) * 1e3, np.percentile(per_update, 99) * 1e3
    print("%-18s %-14s %-40s %10.3f %12.4g %9.2f %9.2f" % (bench, backend, size, sec, ips, p50, p99))
    print("JSON " + json.dumps({"bench": bench, "backend": backend, "threads": torch.get_num_threads(), "size": size,
                                "median_s": statistics.median(per_update), "total_s": sec, "items_per_s": ips,
                                "unit": "samples", "update_p50_ms": p50, "update_p99_ms": p99,
                                "peak_rss_mb": round(peak_rss_mb(), 1), "impl": "pytorch",
                                "torch": torch.__version__}), flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=os.cpu_count(), help="the 'all threads' count")
    ap.add_argument("--updates", type=int, default=48,
                    help="timed updates per thread count (48: about 10 s on one core of the 2-core VM)")
    a = ap.parse_args()
    print("# PPO (PyTorch %s, NumPy env) on %s (%d cores online)" % (torch.__version__, socket.gethostname(),
                                                                     os.cpu_count()))
    print("%-18s %-14s %-40s %10s %12s %9s %9s" % ("benchmark", "backend", "size", "total s", "samples/s",
                                                  "p50 ms", "p99 ms"))
    for n in sorted({1, a.threads}):
        torch.set_num_threads(n)
        t_roll, t_upd, d = train(a.updates)
        backend, samples = "torch-cpu-%dt" % n, a.updates * BATCH
        whole = [r + u for r, u in zip(t_roll, t_upd)]
        report("torch_ppo_train", backend, a.updates, sum(whole), samples, whole)
        report("torch_ppo_rollout", backend, a.updates, sum(t_roll), samples, t_roll)
        report("torch_ppo_update", backend, a.updates, sum(t_upd), samples, t_upd)
        print("#   %s last update: pg_loss %.4f v_loss %.3g entropy %.4f approx_kl %.3g clipfrac %.3f; %d episodes"
              % (backend, d["pg_loss"], d["v_loss"], d["entropy"], d["approx_kl"], d["clipfrac"], d["episodes"]))


if __name__ == "__main__":
    main()
