"""docs/RESULTS.md is rendered from run snapshots: the numbers are the runs' numbers."""

import json
import math

from analyses.results import results, wilson


def fake_run(root, name, method, seed, acc, ttft, n=200):
    run = root / name
    run.mkdir(parents=True)
    config = {"model": {}, "task": {"name": "chain", "preset": "demo", "sizes": {"test": n}},
              "method": {"name": method}, "train": {"seed": seed}}
    metrics = {"parameters": 1000, "train": {"seconds": 120.0},
               "test": {"n": n, "accuracy": acc, "mean_generated_tokens": 3.0,
                        "mean_latent_steps": 0.0, "ttft_ms": ttft, "majority_baseline": 0.1}}
    (run / "config.json").write_text(json.dumps(config))
    (run / "metrics.json").write_text(json.dumps(metrics))
    (run / "log.jsonl").write_text(json.dumps({"step": 5, "valid_accuracy": 0.5,
                                               "elapsed_s": 60.0}) + "\n")
    return run


def test_wilson_interval_matches_the_closed_form():
    lo, hi = wilson(0.9, 100)
    assert math.isclose(lo, 0.8256, abs_tol=1e-3) and math.isclose(hi, 0.9448, abs_tol=1e-3)
    assert wilson(0.0, 50)[0] == 0.0


def test_the_page_reports_mean_sd_of_seeds_and_ttft_ratios(tmp_path):
    runs = [fake_run(tmp_path / "runs", "cot-s0", "cot", 0, 0.90, 30.0),
            fake_run(tmp_path / "runs", "cot-s1", "cot", 1, 0.80, 34.0),
            fake_run(tmp_path / "runs", "nocot-s0", "nocot", 0, 0.40, 4.0)]
    text = results(runs, tmp_path / "docs" / "RESULTS.md")
    cot = next(line for line in text.splitlines() if line.startswith("| CoT"))
    cells = [c.strip() for c in cot.split("|")[1:-1]]
    assert cells[1] == "0, 1"
    assert cells[2] == "85.0 ± 7.1"  # mean and sample sd of 90 and 80
    lo, hi = wilson(0.85, 400)
    assert cells[3] == f"{100 * lo:.1f}–{100 * hi:.1f}"
    assert cells[8] == "8.00 ± 0.71"  # 30/4 and 34/4
    assert "Chance (majority answer of the test split): 10.0 %" in text
    assert (tmp_path / "docs" / "results" / "runs" / "cot-s1" / "metrics.json").exists()
    assert (tmp_path / "docs" / "results" / "chain_curves.html").exists()
    again = results([], tmp_path / "docs" / "RESULTS.md")
    assert again == text, "re-rendering from the snapshots alone gives the same page"


def test_benchmark_snapshots_are_shown_with_their_checks(tmp_path):
    bench = tmp_path / "latency.json"
    bench.write_text(json.dumps({"threads": 2, "rim_ttft_over_nocot": 1.0917715,
                                 "ttft_ms_b64": {"nocot": 355.4, "rim": 422.5},
                                 "checks": {"rim_fast": True, "coconut_fast": False}}))
    text = results([], tmp_path / "docs" / "RESULTS.md", bench=[bench])
    assert "### latency (`benchmarks/latency.py`)" in text
    assert "| rim_ttft_over_nocot | 1.092 |" in text
    assert "| ttft_ms_b64 | nocot 355.4, rim 422.5 |" in text
    assert "rim_fast ✓; coconut_fast ✗ (missed)" in text
    kept = tmp_path / "docs" / "results" / "benchmarks" / "latency.json"
    assert json.loads(kept.read_text())["threads"] == 2
    assert results([], tmp_path / "docs" / "RESULTS.md") == text


def test_a_malformed_benchmark_file_is_a_one_line_error(tmp_path):
    import pytest

    from workbench.errors import UserError

    bad = tmp_path / "capture.json"
    bad.write_text('{"a": 1,\n "b": }')
    with pytest.raises(UserError, match=r"capture.json:2: invalid JSON"):
        results([], tmp_path / "docs" / "RESULTS.md", bench=[bad])
    assert not (tmp_path / "docs" / "results" / "benchmarks").exists()
