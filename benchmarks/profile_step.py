"""Where a training step of a recipe goes: FLOPs and time per part of the separator.

    python benchmarks/profile_step.py                    # the shipped recipe (tiny-cpu)
    python benchmarks/profile_step.py --set 'separator={"channels": [16, 32, 64, 128]}'

For the config's batch (``batch_size`` mixtures of ``duration`` seconds) it prints, per
top-level part of :class:`lassnet.separator.SeparationNet` (STFT, input norm, each encoder
level, the centre, each decoder level, FiLM, the inverse STFT), the parameters, the forward
GFLOPs counted by ``torch.utils.flop_counter`` and the forward milliseconds (forward hooks,
best of ``--repeats``), each with its share; then the whole training step (forward, loss,
backward, AdamW) and the time to draw one batch of mixtures. FLOPs do not depend on the
machine; times do (say which CPU, and how loaded it was).
"""

from __future__ import annotations

import argparse
import json
import time

import torch
from _timing import best_time, header  # benchmarks/_timing.py, beside this file
from torch.utils.flop_counter import FlopCounterMode

from lassnet.separator import SeparationNet
from lassnet.train import load_config


def parts(net: SeparationNet) -> list[tuple[str, torch.nn.Module]]:
    """The separator's parts in the order a forward pass runs them."""
    out = []
    for name, module in net.named_children():
        if isinstance(module, torch.nn.ModuleList):
            out += [(f"{name}.{i}", m) for i, m in enumerate(module)]
        else:
            out.append((name, module))
    return out


def forward_times(net, x, q, repeats: int) -> dict[str, float]:
    """Best forward seconds of each part over ``repeats`` passes (inclusive of children)."""
    starts, best = {}, {}

    def pre(name):
        def hook(_m, _i):
            starts[name] = time.perf_counter()
        return hook

    def post(name):
        def hook(_m, _i, _o):
            took = time.perf_counter() - starts.pop(name, time.perf_counter())
            best[name] = best.get(name, 0.0) + took
        return hook

    handles = []
    for name, m in parts(net):
        handles += [m.register_forward_pre_hook(pre(name)), m.register_forward_hook(post(name))]
    rows = []
    try:
        with torch.no_grad():
            net(x, q)  # warm-up
            for _ in range(repeats):
                best.clear()
                net(x, q)
                rows.append(dict(best))
    finally:
        for h in handles:
            h.remove()
    return {name: min(r.get(name, 0.0) for r in rows) for name, _ in parts(net)}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="tiny-cpu")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=JSON",
                        help="override a config value, e.g. 'batch_size=16'")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--json", default=None, help="also write the figures to this file")
    args = parser.parse_args(argv)
    overrides = {}
    for item in args.set:
        key, _, value = item.partition("=")
        overrides[key.strip()] = json.loads(value)
    separator = overrides.pop("separator", {})
    cfg = load_config(args.config, **overrides)
    cfg.separator = {**cfg.separator, **separator}
    torch.set_num_threads(args.threads or cfg.threads or torch.get_num_threads())
    print(header(extra=f"profile of one training step of {args.config}"))
    torch.manual_seed(0)
    dim = 384
    net = SeparationNet.from_preset(cfg.preset, condition_dim=dim, **cfg.separator)
    if cfg.channels_last:
        net = net.to(memory_format=torch.channels_last)
    sr = net.config.sample_rate
    length = int(cfg.duration * sr)
    x = 0.05 * torch.randn(cfg.batch_size, 1, length)
    s = 0.05 * torch.randn(cfg.batch_size, 1, length)
    q = torch.nn.functional.normalize(torch.randn(cfg.batch_size, dim), dim=1)

    net.eval()
    with torch.no_grad(), FlopCounterMode(display=False, depth=None) as counter:
        net(x, q)
    counts = counter.get_flop_counts()
    total = counter.get_total_flops()
    top = type(net).__name__
    flops = {name: sum(counts.get(f"{top}.{name}", {}).values()) for name, _ in parts(net)}
    seconds = forward_times(net, x, q, args.repeats)
    forward = sum(seconds.values())
    print(f"batch {cfg.batch_size} × {cfg.duration:g} s at {sr} Hz; "
          f"{sum(p.numel() for p in net.parameters()):,} parameters; "
          f"{torch.get_num_threads()} threads")
    print(f"{'part':14s} {'params':>9s} {'GFLOPs':>8s} {'share':>6s} {'ms':>8s} {'share':>6s}")
    rows = []
    for name, module in parts(net):
        n = sum(p.numel() for p in module.parameters())
        row = {"part": name, "parameters": n, "gflops": flops[name] / 1e9,
               "ms": 1e3 * seconds[name]}
        rows.append(row)
        print(f"{name:14s} {n:9,d} {row['gflops']:8.3f} {flops[name] / max(total, 1):6.1%} "
              f"{row['ms']:8.2f} {seconds[name] / max(forward, 1e-12):6.1%}")
    print(f"{'forward':14s} {'':9s} {total / 1e9:8.3f} {'':6s} {1e3 * forward:8.2f}")

    net.train()
    optimiser = torch.optim.AdamW(net.parameters(), lr=cfg.lr, amsgrad=cfg.amsgrad)

    def step():
        est = net(x, q)
        err = (s - est).square().sum(-1)
        loss = -10 * torch.log10(s.square().sum(-1) / err.clamp_min(1e-8)).mean()
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()

    with FlopCounterMode(display=False) as counter:
        step()
    train_flops = counter.get_total_flops()
    train_s = best_time(step, args.repeats)
    print(f"training step: {train_flops / 1e9:.3f} GFLOPs (forward + backward), "
          f"{1e3 * train_s:.1f} ms; {cfg.steps} steps ≈ {cfg.steps * train_s / 60:.1f} min")

    from lassnet.data import MixtureDataset  # drawing mixtures, as the trainer's worker does

    dataset = MixtureDataset(count=10**6, sample_rate=sr, duration=cfg.duration,
                             min_interferers=cfg.min_interferers,
                             max_interferers=cfg.max_interferers, gain_db=cfg.gain_db,
                             seed=cfg.seed, split="train")
    batch_s = best_time(lambda: [dataset[i] for i in range(cfg.batch_size)], args.repeats)
    print(f"one batch of mixtures: {1e3 * batch_s:.1f} ms (on the data worker)")
    if args.json:
        from lassnet.files import write_text

        write_text(args.json, json.dumps({"config": args.config, "overrides": args.set,
                                          "parts": rows, "forward_gflops": total / 1e9,
                                          "train_gflops": train_flops / 1e9,
                                          "train_step_s": train_s, "batch_s": batch_s},
                                         indent=1) + "\n")


if __name__ == "__main__":
    main()
