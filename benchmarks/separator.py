"""Benchmark the SeparationNet presets on this machine (CPU or GPU).

Prints, for each preset: parameters, FLOPs per second of audio, training-step time (also with
channels-last activations), inference time and real-time factor (float32, and bfloat16 where
supported, with its error against float32), and peak memory. Timings are the best of
``--repeats`` runs after one warm-up.

    python benchmarks/separator.py                       # all presets, 10 s of audio
    python benchmarks/separator.py --presets audiosep --seconds 10 --threads 2
    python benchmarks/separator.py --device cuda
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch
from _timing import PeakMemory, best_time, header  # benchmarks/_timing.py, beside this file
from torch.utils.flop_counter import FlopCounterMode

from lassnet import inference
from lassnet.separator import PRESETS, SeparationNet


def bench_preset(name, seconds, train_batch, train_seconds, repeats, device, bf16, cond_dim):
    torch.manual_seed(0)
    net = SeparationNet.from_preset(name, condition_dim=cond_dim).to(device)
    sr = net.config.sample_rate
    mixture = 0.1 * torch.randn(1, 1, int(seconds * sr), device=device)
    query = torch.nn.functional.normalize(torch.randn(1, cond_dim, device=device), dim=1)
    row = {"preset": name, "sample_rate": sr, "parameters": net.num_parameters()}

    one_second = 0.1 * torch.randn(1, 1, sr, device=device)
    net.eval()
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        net(one_second, query)
    row["gflops_per_audio_second"] = counter.get_total_flops() / 1e9

    # Fast inference as LASSModel.separate runs it: a fused copy, made once.
    fast = net.fused(channels_last=device.type == "cpu")
    with PeakMemory(device) as mem:
        t = best_time(lambda: inference.run(fast, mixture, query, "float32"), repeats, device)
    row.update(infer_fp32_s=t, rtf_fp32=t / seconds, infer_peak_mb=mem.mb)
    with torch.no_grad():  # the network as chapter 2 writes it, unfused, for comparison
        row["infer_plain_fp32_s"] = best_time(lambda: net(mixture, query), repeats, device)
    if bf16:
        ref = inference.run(fast, mixture, query, "float32")
        t = best_time(lambda: inference.run(fast, mixture, query, "bfloat16"), repeats, device)
        out = inference.run(fast, mixture, query, "bfloat16")
        row.update(infer_bf16_s=t, rtf_bf16=t / seconds,
                   bf16_rel_error=((out - ref).norm() / ref.norm()).item())
    row["auto_precision"] = inference.choose_precision(net, device)

    net.train()
    opt = torch.optim.AdamW(net.parameters(), lr=1e-3)
    batch = 0.1 * torch.randn(train_batch, 1, int(train_seconds * sr), device=device)
    cond = query.expand(train_batch, -1)

    def step():
        opt.zero_grad(set_to_none=True)
        loss = (net(batch, cond) - batch).abs().mean()
        loss.backward()
        opt.step()

    with PeakMemory(device) as mem:
        t = best_time(step, max(1, repeats - 1), device)
    row.update(train_step_s=t, train_batch=f"{train_batch} x {train_seconds:g} s",
               train_peak_mb=mem.mb)
    net.to(memory_format=torch.channels_last)  # TrainConfig.channels_last: same maths, NHWC
    row.update(train_step_cl_s=best_time(step, max(1, repeats - 1), device))
    return row


def bench_reference(seconds: float, repeats: int, device: torch.device) -> dict:
    """lassnet's ``audiosep`` preset against AudioSep's forward written out independently
    (:func:`lassnet.testing.audiosep_reference_forward`: torchlibrosa's conv STFT, batch norm
    then β, nothing folded), on the same weights and input; runs alternate between the two so
    that a busy machine slows both alike."""
    from lassnet.audiosep import load_audiosep
    from lassnet.testing import audiosep_reference_forward, audiosep_state_dict

    sd = {k: v.to(device) for k, v in audiosep_state_dict().items()}
    net, _ = load_audiosep({k: v.cpu() for k, v in sd.items()})
    net = net.to(device).eval()
    fast = net.fused(channels_last=device.type == "cpu")
    mixture = 0.1 * torch.randn(1, 1, int(seconds * 32000), device=device)
    query = torch.nn.functional.normalize(torch.randn(1, 512, device=device), dim=1)
    with torch.no_grad():
        ref = audiosep_reference_forward(sd, mixture, query)
        ours = inference.run(fast, mixture, query, "float32")
    times = {"reference": [], "lassnet": []}
    for _ in range(max(1, repeats)):
        with torch.no_grad():
            times["reference"].append(best_time(
                lambda: audiosep_reference_forward(sd, mixture, query), 1, device))
        times["lassnet"].append(best_time(
            lambda: inference.run(fast, mixture, query, "float32"), 1, device))
    ref_s, ours_s = min(times["reference"]), min(times["lassnet"])
    return {"reference_s": ref_s, "lassnet_fp32_s": ours_s, "speedup": ref_s / ours_s,
            "rel_error": ((ours - ref).norm() / ref.norm()).item()}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presets", default=",".join(PRESETS))
    parser.add_argument("--seconds", type=float, default=10.0, help="audio length for inference")
    parser.add_argument("--train-batch", type=int, default=2)
    parser.add_argument("--train-seconds", type=float, default=2.0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--condition-dim", type=int, default=512)
    parser.add_argument("--json", type=Path, help="also write the rows to this file")
    parser.add_argument("--reference", action="store_true",
                        help="also time AudioSep's forward, written out independently, beside "
                        "the audiosep preset (float32, same weights and input)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    bf16 = device.type == "cuda" or torch.backends.mkldnn.is_available()
    print(header(device, f"{args.seconds:g} s of audio"))
    rows = []
    for name in args.presets.split(","):
        row = bench_preset(name, args.seconds, args.train_batch, args.train_seconds,
                           args.repeats, device, bf16, args.condition_dim)
        rows.append(row)
        print(f"\n[{name}] {row['parameters']:,} parameters, {row['sample_rate']} Hz")
        print(f"  {row['gflops_per_audio_second']:.1f} GFLOPs per second of audio (forward)")
        print(f"  inference fp32: {row['infer_fp32_s']:.2f} s  (RTF {row['rtf_fp32']:.3f}), "
              f"+{row['infer_peak_mb']:.0f} MB peak; unfused network "
              f"{row['infer_plain_fp32_s']:.2f} s")
        if "infer_bf16_s" in row:
            print(f"  inference bf16: {row['infer_bf16_s']:.2f} s  (RTF {row['rtf_bf16']:.3f}), "
                  f"relative error vs fp32 {100 * row['bf16_rel_error']:.2f} %")
        print(f"  precision='auto' chooses {row['auto_precision']} on this machine")
        print(f"  training step ({row['train_batch']}): {row['train_step_s']:.2f} s, "
              f"+{row['train_peak_mb']:.0f} MB peak; channels-last "
              f"{row['train_step_cl_s']:.2f} s "
              f"({row['train_step_s'] / row['train_step_cl_s']:.2f}x)")
    if args.reference:
        ref = bench_reference(args.seconds, args.repeats, device)
        rows.append({"preset": "audiosep-vs-reference", **ref})
        print(f"\n[AudioSep's forward written out vs lassnet, {args.seconds:g} s, float32] "
              f"reference {ref['reference_s']:.2f} s, lassnet {ref['lassnet_fp32_s']:.2f} s: "
              f"{ref['speedup']:.2f}x faster (outputs agree to {ref['rel_error']:.1e})")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
