#!/usr/bin/env python3
"""PyTorch peer of the project's BiT ResNet-v2, for benchmarks and cross-checks.

Written from the architecture of BiT's original PyTorch code
(google-research/big_transfer, bit_pytorch/models.py): pre-activation
bottlenecks, GroupNorm, weight-standardized convs, root = 7x7/2 conv, zero pad 1,
3x3/2 max-pool, head = GN, ReLU, global mean, 1x1 conv. It loads weights by
the official BiT keys from an .npz, so the project's own files feed it.

Modes (one JSON object on stdout):
  logits  --weights W.npz --input X.npy --output Y.npy   forward, write logits
  features --weights W.npz --input X.npy --output Y.npz --layer L1,L2,... [--no-pool]
          the output of each stage L (block1, block2, ...) or the pre-logits
          (L = pre-logits: the head's GroupNorm + ReLU), averaged over the
          spatial positions unless --no-pool, one array per layer in Y.npz
  bench   --weights W.npz --batch B --resolution R --threads N --reps K
          [--input X.npy] [--phase forward|latency|train|both] [--warmup W] [--profile [N]]
          [--peer-mode eager|compile]
          forward (no grad; latency: the first image alone) and training-step
          (SGD momentum 0.9) timings:
          images/s, the wall-clock and CPU seconds of every timed
          repetition, peak RSS. --peer-mode compile runs the model through
          torch.compile (TorchInductor, its default mode; PyTorch 2.x): the
          warm-up repetitions include the compilation.
          The input is X.npy (NHWC float32, as `bit bench` writes it) or
          uniform noise in [-1, 1]; labels are arange(B) % head, as in `bit bench`.
          --profile [N] adds libtorch's own op timings (torch.profiler) of N
          more repetitions (default 1), each op's fastest self CPU time, to
          the JSON.

Runs on PyTorch 1.13 (Debian's python3-torch, /usr/bin/python3) and 2.x
(for instance a venv with torch 2.13), with numpy.
"""
import argparse
import json
import re
import resource
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


def _biased():
    """The biased-variance keyword of var_mean: `correction=0` where PyTorch has it (2.x deprecates `unbiased`), else `unbiased=False`."""
    try:
        torch.var_mean(torch.zeros(2), dim=[0], correction=0)
        return {"correction": 0}
    except TypeError:
        return {"unbiased": False}


BIASED = _biased()


class StdConv2d(nn.Conv2d):
    def forward(self, x):
        v, m = torch.var_mean(self.weight, dim=[1, 2, 3], keepdim=True, **BIASED)
        w = (self.weight - m) / torch.sqrt(v + 1e-10)
        return F.conv2d(x, w, self.bias, self.stride, self.padding, self.dilation, self.groups)


class Unit(nn.Module):
    def __init__(self, cin, cmid, cout, stride, groups):
        super().__init__()
        self.gn1 = nn.GroupNorm(groups, cin)
        self.conv1 = StdConv2d(cin, cmid, 1, bias=False)
        self.gn2 = nn.GroupNorm(groups, cmid)
        self.conv2 = StdConv2d(cmid, cmid, 3, stride=stride, padding=1, bias=False)
        self.gn3 = nn.GroupNorm(groups, cmid)
        self.conv3 = StdConv2d(cmid, cout, 1, bias=False)
        self.proj = StdConv2d(cin, cout, 1, stride=stride, bias=False) if (stride != 1 or cin != cout) else None

    def forward(self, x):
        out = F.relu(self.gn1(x))
        residual = self.proj(out) if self.proj is not None else x
        out = self.conv1(out)
        out = self.conv2(F.relu(self.gn2(out)))
        out = self.conv3(F.relu(self.gn3(out)))
        return out + residual


class ResNetV2(nn.Module):
    def __init__(self, units, base, head, groups):
        super().__init__()
        self.root = StdConv2d(3, base, 7, stride=2, padding=3, bias=False)
        blocks = []
        cin = base
        for s, n in enumerate(units):
            cmid = base * 2 ** s
            for u in range(n):
                blocks.append(Unit(cin, cmid, cmid * 4, 2 if (u == 0 and s > 0) else 1, groups))
                cin = cmid * 4
        self.body = nn.Sequential(*blocks)
        self.units = units
        self.gn = nn.GroupNorm(groups, cin)
        self.head = nn.Conv2d(cin, head, 1, bias=True)

    def forward(self, x):
        x = F.max_pool2d(F.pad(self.root(x), (1, 1, 1, 1)), 3, 2)
        x = self.body(x)
        x = torch.mean(F.relu(self.gn(x)), dim=[2, 3], keepdim=True)
        return self.head(x)[:, :, 0, 0]

    def features(self, x, layer, pool):
        x = F.max_pool2d(F.pad(self.root(x), (1, 1, 1, 1)), 3, 2)
        first = 0
        for s, n in enumerate(self.units):
            x = self.body[first:first + n](x)
            first += n
            if layer == f"block{s + 1}":
                break
        if layer == "pre-logits":
            x = F.relu(self.gn(x))
        return torch.mean(x, dim=[2, 3]) if pool else x

    def load_npz(self, path):
        w = {re.sub(r"/standardized_conv2d_\d+/", "/standardized_conv2d/", k): v for k, v in np.load(path).items()}

        def conv(dst, key):
            dst.weight.data.copy_(torch.from_numpy(w[key].transpose(3, 2, 0, 1).copy()))

        def gn(dst, prefix):
            dst.weight.data.copy_(torch.from_numpy(w[prefix + "group_norm/gamma"]))
            dst.bias.data.copy_(torch.from_numpy(w[prefix + "group_norm/beta"]))

        conv(self.root, "resnet/root_block/standardized_conv2d/kernel")
        i = 0
        for s, n in enumerate(self.units):
            for u in range(n):
                p = f"resnet/block{s + 1}/unit{u + 1:02d}/"
                unit = self.body[i]
                gn(unit.gn1, p + "a/")
                conv(unit.conv1, p + "a/standardized_conv2d/kernel")
                gn(unit.gn2, p + "b/")
                conv(unit.conv2, p + "b/standardized_conv2d/kernel")
                gn(unit.gn3, p + "c/")
                conv(unit.conv3, p + "c/standardized_conv2d/kernel")
                if unit.proj is not None:
                    conv(unit.proj, p + "a/proj/standardized_conv2d/kernel")
                i += 1
        gn(self.gn, "resnet/")
        conv(self.head, "resnet/head/conv2d/kernel")
        self.head.bias.data.copy_(torch.from_numpy(w["resnet/head/conv2d/bias"]))


def build(a):
    units = [int(u) for u in a.units.split(",")]
    model = ResNetV2(units, a.base_width * a.width_factor, a.head, a.groups)
    model.load_npz(a.weights)
    return model


def profile(fn, reps=1):
    """Self CPU milliseconds per libtorch op of a call of fn (torch.profiler), each op's fastest of `reps` calls, largest first."""
    from torch.profiler import ProfilerActivity
    from torch.profiler import profile as torch_profile

    best = {}
    for _ in range(reps):
        with torch_profile(activities=[ProfilerActivity.CPU]) as prof:
            fn()
        for e in prof.key_averages():
            row = {"op": e.key, "calls": e.count, "self_ms": e.self_cpu_time_total / 1000, "total_ms": e.cpu_time_total / 1000}
            if e.key not in best or row["self_ms"] < best[e.key]["self_ms"]:
                best[e.key] = row
    rows = sorted(best.values(), key=lambda r: -r["self_ms"])
    return rows[:40]


def peak_rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main():
    p = argparse.ArgumentParser()
    p.add_argument("mode", choices=["logits", "features", "bench"])
    p.add_argument("--weights", required=True)
    p.add_argument("--units", default="3,4,6,3")
    p.add_argument("--width-factor", type=int, default=1)
    p.add_argument("--base-width", type=int, default=64)
    p.add_argument("--groups", type=int, default=32)
    p.add_argument("--head", type=int, required=True)
    p.add_argument("--input")
    p.add_argument("--output")
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--resolution", type=int, default=128)
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--phase", default="both", choices=["forward", "latency", "train", "both"])
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--profile", type=int, nargs="?", const=1, default=0, metavar="N")
    p.add_argument("--peer-mode", default="eager", choices=["eager", "compile"])
    p.add_argument("--layer", default="pre-logits")
    p.add_argument("--no-pool", action="store_true")
    a = p.parse_args()
    if a.peer_mode == "compile" and not hasattr(torch, "compile"):
        raise SystemExit(
            f"--peer-mode compile needs torch.compile (PyTorch 2.0 or later), but {sys.executable} has PyTorch {torch.__version__}; "
            "point BIT_PYTHON at a Python with PyTorch 2.x"
        )
    if a.threads > 0:
        torch.set_num_threads(a.threads)
    model = build(a)
    if a.mode == "logits":
        x = torch.from_numpy(np.load(a.input)).permute(0, 3, 1, 2).contiguous()
        model.eval()
        with torch.no_grad():
            y = model(x).numpy()
        np.save(a.output, y)
        print(json.dumps({"shape": list(y.shape)}))
        return
    if a.mode == "features":
        x = torch.from_numpy(np.load(a.input)).permute(0, 3, 1, 2).contiguous()
        model.eval()
        with torch.no_grad():
            ys = {layer: model.features(x, layer, not a.no_pool).numpy() for layer in a.layer.split(",")}
        np.savez(a.output, **ys)
        print(json.dumps({k: list(v.shape) for k, v in ys.items()}))
        return
    if a.input:
        x = torch.from_numpy(np.load(a.input)).permute(0, 3, 1, 2).contiguous()
        if tuple(x.shape) != (a.batch, 3, a.resolution, a.resolution):
            raise SystemExit(f"{a.input}: expected [{a.batch}, {a.resolution}, {a.resolution}, 3], got {list(x.shape)}")
    else:
        torch.manual_seed(0)
        x = torch.rand(a.batch, 3, a.resolution, a.resolution) * 2 - 1
    labels = torch.arange(a.batch) % a.head
    out = {"threads": torch.get_num_threads(), "torch": torch.__version__, "peer_mode": a.peer_mode}
    # eager: the module itself; compile: TorchInductor's code for it (compiled at the first call of each phase)
    run = torch.compile(model) if a.peer_mode == "compile" else model

    def timed(fn, key, batch=a.batch):
        for _ in range(a.warmup):
            fn()
        seconds, cpu_seconds = [], []
        for _ in range(a.reps):
            c = time.process_time()
            t = time.perf_counter()
            fn()
            seconds.append(time.perf_counter() - t)
            cpu_seconds.append(time.process_time() - c)
        out[key + "_seconds"] = seconds
        out[key + "_cpu_seconds"] = cpu_seconds
        out[key + "_images_per_s"] = batch * len(seconds) / sum(seconds)
        profiles.append((key, fn))

    profiles = []

    if a.phase in ("forward", "both"):
        def forward():
            model.eval()
            with torch.no_grad():
                run(x)

        timed(forward, "forward")
    if a.phase == "latency":
        x1 = x[:1].contiguous()

        def latency():
            model.eval()
            with torch.no_grad():
                run(x1)

        timed(latency, "latency", 1)
    if a.phase in ("train", "both"):
        opt = torch.optim.SGD(model.parameters(), lr=0.001, momentum=0.9)

        def step():
            model.train()
            opt.zero_grad(set_to_none=True)
            F.cross_entropy(run(x), labels).backward()
            opt.step()

        timed(step, "train")
    out["peak_rss_mb"] = peak_rss_mb()  # before profiling, which allocates its own records
    if a.profile:
        for key, fn in profiles:
            out[key + "_profile"] = profile(fn, a.profile)
    print(json.dumps(out))


if __name__ == "__main__":
    sys.exit(main())
