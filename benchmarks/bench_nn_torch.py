#!/usr/bin/python3
"""PyTorch baseline for benchmarks/bench_nn.c: the same models, batch sizes and training
step (forward + backward + global-norm clipping + AdamW), reporting samples/s.

  mlp_train   Linear(64,256) GELU(tanh) Linear(256,256) GELU(tanh) Linear(256,1), MSE, batch 4096
  lstm_train  LSTM(32, 128, batch_first) -> Linear(128, 1) on the last hidden state, MSE, batch 256, L 64

CPU with torch.set_num_threads(1) and (all cores); CUDA (FP32 and TF32 matmuls, BF16
autocast) when available. Output: a table and one `JSON {...}` line per result, like the
C benchmarks. Debian: apt-get install python3-torch; run with /usr/bin/python3.

Usage: bench_nn_torch.py [--threads N] [--repeats R] [--cpu-only] [--mlp-only]
(--threads 1 runs one thread only; --mlp-only skips the LSTM, for short paired runs with
bench_nn --mlp-only)
"""
import argparse
import json
import math
import os
import resource
import statistics
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


def mlp_model():
    return nn.Sequential(nn.Linear(64, 256), nn.GELU(approximate="tanh"), nn.Linear(256, 256),
                         nn.GELU(approximate="tanh"), nn.Linear(256, 1))


class LstmModel(nn.Module):
    def __init__(self):
        super().__init__()
        self.lstm = nn.LSTM(32, 128, batch_first=True)
        self.head = nn.Linear(128, 1)

    def forward(self, x):
        out, _ = self.lstm(x)
        return self.head(out[:, -1])


def mlp_data(device):
    g = torch.Generator().manual_seed(2026)
    x = torch.randn(4096, 64, generator=g)
    t = (torch.sin(x[:, 0]) + 0.5 * x[:, 1] * x[:, 2] - 0.3 * x[:, 3]).unsqueeze(1)
    return x.to(device), t.to(device)


def lstm_data(device):
    g = torch.Generator().manual_seed(2026)
    x = torch.randn(256, 64, 32, generator=g)
    t = torch.zeros(256)
    s = torch.zeros(256)
    for i in range(64):
        s = 0.9 * s + 0.1 * x[:, i, 0]
    t = s.unsqueeze(1)
    return x.to(device), t.to(device)


def make_step(model, x, t, autocast_bf16=False):
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01)

    def step():
        opt.zero_grad(set_to_none=True)
        if autocast_bf16:
            with torch.autocast(device_type="cuda", dtype=torch.bfloat16):
                y = model(x)
            loss = F.mse_loss(y.float(), t)
        else:
            loss = F.mse_loss(model(x), t)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        return loss
    return step


def time_step(step, device, warm, repeats, per):
    first = float(step())
    for _ in range(warm - 1):
        step()
    times = []
    for _ in range(repeats):
        if device == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        for _ in range(per):
            loss = step()
        if device == "cuda":
            torch.cuda.synchronize()
        times.append((time.perf_counter() - t0) / per)
    last = float(loss)
    assert math.isfinite(last) and last < first, f"loss did not fall: {first} -> {last}"
    return statistics.median(times), first, last


def report(bench, backend, size, sec, samples):
    print(f"{bench:<22} {backend:<14} {size:<22} {sec * 1e3:12.3f} {samples / sec:14.4g}")
    print("JSON " + json.dumps({"bench": bench, "backend": backend, "size": size, "median_s": sec,
                                "items_per_s": samples / sec, "unit": "samples", "impl": "pytorch",
                                "torch": torch.__version__,
                                "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0}))


def run(device, label, repeats, bf16=False, mlp_only=False):
    cases = [("mlp_train", "b4096 64-256-256-1", 4096, mlp_model, mlp_data, 50),
             ("lstm_train", "b256 L64 F32 H128", 256, LstmModel, lstm_data, 20)]
    if mlp_only:
        cases = cases[:1]
    for bench, size, batch, make_model, make_data, gpu_per in cases:
        torch.manual_seed(2026)
        try:
            x, t = make_data(device)
            model = make_model().to(device)
            per = gpu_per if device == "cuda" else (2 if bench == "mlp_train" else 1)
            sec, l0, l1 = time_step(make_step(model, x, t, bf16), device, 3, repeats, per)
        except (RuntimeError, AssertionError) as e:  # e.g. a mode this torch/cuDNN lacks
            print(f"  {bench} {label}: skipped ({e})")
            continue
        print(f"  {bench.split('_')[0]} {label}: loss {l0:.4f} -> {l1:.4f}")
        report(bench, label, size, sec, batch)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=os.cpu_count(), help="the 'all threads' count")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--cpu-only", action="store_true")
    ap.add_argument("--mlp-only", action="store_true")
    a = ap.parse_args()
    print(f"# PyTorch {torch.__version__} baseline ({os.cpu_count()} cores online)")
    print(f"{'benchmark':<22} {'backend':<14} {'size':<22} {'median ms':>12} {'samples/s':>14}")
    for n in sorted({1, a.threads}):
        torch.set_num_threads(n)
        run("cpu", f"torch-cpu-{n}t", a.repeats, mlp_only=a.mlp_only)
    if a.cpu_only or not torch.cuda.is_available():
        print("# cuda: skipped")
        return
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    run("cuda", "torch-cuda-fp32", a.repeats)
    torch.backends.cuda.matmul.allow_tf32 = True
    torch.backends.cudnn.allow_tf32 = True
    run("cuda", "torch-cuda-tf32", a.repeats)
    run("cuda", "torch-cuda-bf16", a.repeats, bf16=True)


if __name__ == "__main__":
    main()
