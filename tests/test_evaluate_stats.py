"""BSS Eval beside the plain SDR, and bootstrap confidence intervals (lassnet.metrics,
lassnet.evaluate)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from lassnet.evaluate import EvalReport, bootstrap_ci
from lassnet.metrics import bss_eval, sdr

ROOT = Path(__file__).resolve().parents[1]


def test_bss_eval_matches_mir_eval_and_its_definitions():
    mir_eval = pytest.importorskip("mir_eval")
    torch.manual_seed(0)
    s = torch.randn(2, 32000, dtype=torch.float64)
    rest = 0.7 * torch.randn(2, 32000, dtype=torch.float64)
    x = s + rest
    noise = 0.05 * torch.randn(2, 32000, dtype=torch.float64)
    estimate = s + 0.2 * rest + noise
    ours = bss_eval(estimate, s, x)
    for i in range(2):  # the same decomposition by an independent implementation
        refs = np.stack([s[i].numpy(), (x - s)[i].numpy()])
        ests = np.stack([estimate[i].numpy(), (x - estimate)[i].numpy()])
        with pytest.warns(FutureWarning):
            theirs = mir_eval.separation.bss_eval_sources(refs, ests,
                                                          compute_permutation=False)
        for k, key in enumerate(("sdr", "sir", "sar")):
            assert float(ours[key][i]) == pytest.approx(theirs[k][0], abs=1e-3)
    # interference 0.2·rest: SIR is its energy ratio; artefacts: the added noise
    sir = 10 * torch.log10(s.pow(2).sum(-1) / (0.2 * rest).pow(2).sum(-1))
    sar = 10 * torch.log10((s + 0.2 * rest).pow(2).sum(-1) / noise.pow(2).sum(-1))
    torch.testing.assert_close(ours["sir"], sir, atol=0.5, rtol=0)  # the filters fit a bit
    torch.testing.assert_close(ours["sar"], sar, atol=0.5, rtol=0)  # of the noise too
    # a filtered target is no error for BSS Eval, it is for the plain SDR
    filtered = torch.nn.functional.conv1d(s[:, None], torch.tensor([[[0.5, 0.3, 0.2]]],
                                          dtype=torch.float64), padding=2)[:, 0, :32000]
    assert float(bss_eval(filtered, s, x)["sdr"].min()) > float(sdr(filtered, s).max()) + 20


def test_bss_eval_after_the_thread_count_changed_and_came_back():
    """torch's batched solve returns invalid pivots once the thread count has been set to one
    and back (the MiniLM encoder does so for every query); bss_eval must not depend on it.
    Run in a child process so the changed state stays there."""
    code = (
        "import torch\n"
        "from lassnet.metrics import bss_eval\n"
        "torch.manual_seed(0)\n"
        "s = torch.randn(3, 1, 16000, dtype=torch.float64)\n"
        "x = s + torch.randn(3, 1, 16000, dtype=torch.float64)\n"
        "e = s + 0.1 * (x - s)\n"
        "before = bss_eval(e, s, x)\n"
        "torch.set_num_threads(1); torch.set_num_threads(2)\n"
        "after = bss_eval(e, s, x)\n"
        "for k in before: torch.testing.assert_close(after[k], before[k])\n"
        "assert after['sdr'].shape == (3, 1)\n"
        "print('same', [round(float(v), 2) for v in after['sir'].flatten()])\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=300, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.startswith("same") and "ERROR" not in done.stderr


def test_bootstrap_interval_of_the_mean():
    rng = np.random.default_rng(1)
    values = rng.normal(10.0, 2.0, size=200)
    low, high = bootstrap_ci(values)
    half = 1.96 * values.std(ddof=1) / np.sqrt(values.size)  # the normal approximation
    assert low < values.mean() < high
    assert abs((high - low) / 2 - half) < 0.1 * half
    assert bootstrap_ci(values) == (low, high)  # deterministic
    narrow = bootstrap_ci(values, level=0.5)
    assert low < narrow[0] < narrow[1] < high
    assert bootstrap_ci([3.0]) == (3.0, 3.0)
    with pytest.raises(ValueError, match="no values"):
        bootstrap_ci([])


def test_report_summaries_carry_intervals_and_bss():
    rows = [dict(index=i, label="a" if i < 4 else "b", caption="c", method="model",
                 sdr=float(i), si_sdr=float(i), sdri=float(i), si_sdri=float(i),
                 bss_sdr=float(i) + 1, sir=20.0, sar=float(i) + 2) for i in range(8)]
    rows += [dict(r, method="mixture", si_sdri=0.0) for r in rows[:8]]
    for r in rows[8:]:
        for k in ("bss_sdr", "sir", "sar"):
            r.pop(k)
    report = EvalReport(rows=rows)
    summary = report.summary()
    assert summary["n"] == 8 and summary["ci_low"] < summary["mean"] < summary["ci_high"]
    low, high = report.interval("model", "si_sdri", label="a")
    assert 0.0 <= low < 1.5 < high <= 3.0
    assert report.scores("mixture", "sir") == []   # the model's only
    text = report.to_text()
    assert "95 % confidence interval" in text and "SIR 20.00 dB" in text
