"""docs/RESULTS.md is rendered from run snapshots: the numbers are the runs' numbers."""

import json
import math
import shutil

import pytest

from lwb.results import markdown_table, results, wilson
from workbench.errors import UserError


def flat(text):
    """The page with each line's runs of spaces collapsed: a table's cells as the code wrote them,
    whatever padding the Markdown table gives its columns."""
    return "\n".join(" ".join(line.split()) for line in text.splitlines())


def lines_of(text):
    return flat(text).splitlines()


def fake_run(root, name, method, seed, acc, ttft, n=200, size="micro", params=1000, lr=None,
             loss=None, task="chain", by_depth=None):
    run = root / name
    run.mkdir(parents=True)
    config = {"model": {}, "task": {"name": task, "preset": "demo", "sizes": {"test": n}},
              "method": {"name": method}, "train": {"seed": seed, "size": size, "lr": lr}}
    metrics = {"parameters": params, "train": {"seconds": 120.0, "final_loss": loss},
               "test": {"n": n, "accuracy": acc, "mean_generated_tokens": 3.0,
                        "mean_latent_steps": 0.0, "ttft_ms": ttft, "majority_baseline": 0.1}}
    if by_depth is not None:
        metrics["test"]["by_depth"] = by_depth
    (run / "config.json").write_text(json.dumps(config))
    (run / "metrics.json").write_text(json.dumps(metrics))
    (run / "log.jsonl").write_text(json.dumps({"step": 5, "valid_accuracy": 0.5,
                                               "elapsed_s": 60.0}) + "\n")
    return run


def closed_form_wilson(p, n, z=1.96):
    """The Wilson score interval written out (Wilson 1927), independent of scipy."""
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(max(0.0, p * (1 - p) / n + z * z / (4 * n * n))) / (1 + z * z / n)
    return centre - half, centre + half


def test_wilson_interval_matches_the_closed_form():
    lo, hi = wilson(0.9, 100)
    assert math.isclose(lo, 0.8256, abs_tol=1e-3) and math.isclose(hi, 0.9448, abs_tol=1e-3)
    assert wilson(0.0, 50)[0] == 0.0 and wilson(1.0, 50)[1] == 1.0
    # z = 1.96 as before (not the exact quantile 1.95996…): every count gives the closed form's
    # interval to 1e-12, so no published interval moves
    for n in [*range(1, 41), 97, 200, 500, 1000]:
        for k in range(n + 1):
            got, want = wilson(k / n, n), closed_form_wilson(k / n, n)
            assert all(math.isclose(a, b, rel_tol=0, abs_tol=1e-12) for a, b in zip(got, want))
    got, want = wilson(7 / 50, 50, z=2.5758), closed_form_wilson(7 / 50, 50, z=2.5758)
    assert all(math.isclose(a, b, abs_tol=1e-12) for a, b in zip(got, want))


def test_wilson_wants_a_whole_count_of_successes():
    with pytest.raises(UserError, match="not a whole count"):
        wilson(0.333, 3)


def test_markdown_tables_hold_each_cell_exactly_as_written():
    """pandas' to_markdown (tabulate) only pads: every cell, numbers included, is the string the
    page's code wrote, as the hand-written ``"| " + " | ".join(cells) + " |"`` rows had it."""
    header = ["method", "seeds", "test acc. % (mean ± sd)", "95 % CI", "parameters", "lr",
              "final train loss", "depth 10", "value"]
    rows = [["RiM", "0, 1", "85.0 ± 7.1", "72.1–100.0", "1,234,567", "0.001 (recipe)", "0.900",
             "48.0 [34.8–61.5] (n 50)", "1.092"],
            ["no-CoT", "0", "40.0", "undefined (n = 1: one test example has no interval)", "0",
             "1e-3?", "–", "", "nocot 355.4, rim 422.5"],
            ["CoT", "2", "-0.00", "0.0–7.1", "12", "2e-05", "0.250 ± 0.071", "1.0e+06", "yes"]]
    by_hand = (["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
               + ["| " + " | ".join(r) + " |" for r in rows])
    table = markdown_table(header, rows)
    assert len(table) == len(by_hand) and set(table[1]) == {"|", "-"}
    for got, want in zip(table, by_hand):
        assert [c.strip() for c in got.split("|")] == [c.strip() for c in want.split("|")] \
            or set(got) == {"|", "-"}
    assert markdown_table(["run", "n"], []) == ["| run   | n   |", "|-------|-----|"]


def test_the_page_reports_mean_sd_of_seeds_and_ttft_ratios(tmp_path):
    runs = [fake_run(tmp_path / "runs", "cot-s0", "cot", 0, 0.90, 30.0),
            fake_run(tmp_path / "runs", "cot-s1", "cot", 1, 0.80, 34.0),
            fake_run(tmp_path / "runs", "nocot-s0", "nocot", 0, 0.40, 4.0)]
    text = results(runs, tmp_path / "docs" / "RESULTS.md")
    cot = next(line for line in lines_of(text) if line.startswith("| CoT"))
    cells = [c.strip() for c in cot.split("|")[1:-1]]
    assert cells[1] == "0, 1"
    assert cells[2] == "85.0 ± 7.1"  # mean and sample sd of 90 and 80
    # the CI is over seeds: mean ± t(0.975, 1) · sd / √2, clipped to [0, 100]
    half = 12.7062047 * math.sqrt(((0.90 - 0.85) ** 2 + (0.80 - 0.85) ** 2) / 1) / math.sqrt(2)
    assert cells[3] == f"{100 * (0.85 - half):.1f}–100.0"
    nocot = next(line for line in lines_of(text) if line.startswith("| no-CoT"))
    lo, hi = wilson(0.40, 200)  # one seed: the Wilson interval over its test examples
    assert [c.strip() for c in nocot.split("|")[1:-1]][3] == f"{100 * lo:.1f}–{100 * hi:.1f}"
    assert cells[8] == "8.00 ± 0.71"  # 30/4 and 34/4
    assert "Chance (majority answer of the test split): 10.0 %" in text
    assert (tmp_path / "docs" / "results" / "runs" / "cot-s1" / "metrics.json").exists()
    assert (tmp_path / "docs" / "results" / "chain_curves.html").exists()
    again = results([], tmp_path / "docs" / "RESULTS.md")
    assert again == text, "re-rendering from the snapshots alone gives the same page"


def test_accuracy_by_depth_is_tabled_per_method_with_intervals_and_n(tmp_path):
    def depths(**accs):
        return {d[1:]: {"n": 50, "accuracy": a, "ci": list(wilson(a, 50))}
                for d, a in accs.items()}

    runs = [fake_run(tmp_path / "runs", "rim-s0", "rim", 0, 0.9, 5.0, n=100, task="reach",
                     by_depth=depths(d2=1.0, d3=0.8)),
            fake_run(tmp_path / "runs", "rim-s1", "rim", 1, 0.8, 5.0, n=100, task="reach",
                     by_depth=depths(d2=0.9, d3=0.7)),
            fake_run(tmp_path / "runs", "nocot-s0", "nocot", 0, 0.5, 1.0, n=100, task="reach",
                     by_depth=depths(d2=0.52, d10=0.48)),
            fake_run(tmp_path / "runs", "cot-s0", "cot", 0, 0.5, 9.0, n=100, task="chain")]
    text = results(runs, tmp_path / "docs" / "RESULTS.md")
    lines = lines_of(text)
    header = next(x for x in lines if x.startswith("| method | depth"))
    assert header == "| method | depth 2 | depth 3 | depth 10 |"  # depths in numeric order
    nocot = [c.strip() for c in lines[lines.index(header) + 2].split("|")[1:-1]]
    lo, hi = wilson(0.52, 50)  # one seed: Wilson over the depth's examples
    assert nocot == ["no-CoT", f"52.0 [{100 * lo:.1f}–{100 * hi:.1f}] (n 50)", "–",
                     f"48.0 [{100 * wilson(0.48, 50)[0]:.1f}–{100 * wilson(0.48, 50)[1]:.1f}] "
                     "(n 50)"]
    rim = [c.strip() for c in lines[lines.index(header) + 3].split("|")[1:-1]]
    half = 12.7062047 * math.sqrt(2 * 0.05 ** 2) / math.sqrt(2)  # two seeds: t over seeds
    assert rim[1] == f"95.0 ± 7.1 [{100 * (0.95 - half):.1f}–100.0] (n 50)"
    assert rim[2].startswith("75.0 ± 7.1 [")
    assert flat(text).count("| method | depth") == 1  # the chain runs have no by_depth: no table
    assert "Chance (two-choice): 50 %" in text


def test_benchmark_snapshots_are_shown_with_their_checks(tmp_path):
    bench = tmp_path / "latency.json"
    bench.write_text(json.dumps({"threads": 2, "rim_ttft_over_nocot": 1.0917715,
                                 "ttft_ms_b64": {"nocot": 355.4, "rim": 422.5},
                                 "checks": {"rim_fast": True, "coconut_fast": False}}))
    text = results([], tmp_path / "docs" / "RESULTS.md", bench=[bench])
    assert "### latency (`benchmarks/latency.py`)" in text
    assert "| rim_ttft_over_nocot | 1.092 |" in flat(text)
    assert "| ttft_ms_b64 | nocot 355.4, rim 422.5 |" in flat(text)
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


def test_scaling_rows_and_slope_match_an_independent_fit(tmp_path):
    import numpy as np

    sizes = {"nano": 1_000, "micro": 4_000, "mini": 16_000}
    accs = {("nano", 0): 0.30, ("micro", 0): 0.55, ("mini", 0): 0.80,
            ("nano", 1): 0.20, ("micro", 1): 0.60, ("mini", 1): 0.70}
    runs = [fake_run(tmp_path / "runs", f"rim-{size}-s{seed}", "rim", seed, acc, 5.0,
                     size=size, params=sizes[size]) for (size, seed), acc in accs.items()]
    runs.append(fake_run(tmp_path / "runs", "cot-micro-s0", "cot", 0, 0.9, 9.0,
                         size="micro", params=4_000))
    runs.append(fake_run(tmp_path / "runs", "cot-nano-s0", "cot", 0, 0.1, 9.0,
                         size="nano", params=1_000))
    text = results(runs, tmp_path / "docs" / "RESULTS.md")
    row = next(x for x in lines_of(text) if x.startswith("| chain/demo | RiM |"))
    cells = [c.strip() for c in row.split("|")[1:-1]]
    assert cells[2:5] == ["25.0 ± 7.1 (2)", "57.5 ± 3.5 (2)", "75.0 ± 7.1 (2)"]
    x = np.log([sizes[s] for s, _ in accs])
    y = np.log(np.array(list(accs.values())) / (1 - np.array(list(accs.values()))))
    slope = np.polyfit(x, y, 1)[0] * math.log(2)
    assert cells[5].startswith(f"{slope:.2f} [")
    # the efficiency table keeps to the main size: CoT's nano run is not averaged in
    cot = next(x for x in lines_of(text) if x.startswith("| CoT |"))
    assert [c.strip() for c in cot.split("|")[1:-1]][2] == "90.0"
    assert (tmp_path / "docs" / "results" / "scaling.html").exists()


def test_runs_off_a_sizes_recipe_learning_rate_are_shown_apart_not_averaged(tmp_path):
    import numpy as np

    spec = [("nano", 0, 2e-3, 0.30, 0.1), ("nano", 1, 2e-3, 0.40, 0.1),
            ("mini", 0, 1e-3, 0.80, 0.2), ("mini", 1, 1e-3, 0.90, 0.3),
            ("mini", 0, 2e-3, 0.10, 0.9)]  # the off-recipe run: a failed optimisation
    params = {"nano": 1_000, "mini": 16_000}
    runs = [fake_run(tmp_path / "runs", f"rim-{z}-lr{lr:g}-s{s}", "rim", s, acc, 5.0, size=z,
                     params=params[z], lr=lr, loss=loss) for z, s, lr, acc, loss in spec]
    text = results(runs, tmp_path / "docs" / "RESULTS.md")
    lines = lines_of(text)
    header = next(x for x in lines if x.startswith("| task | method | nano"))
    assert "mini (0.02M; lr 0.001)" in header and "nano (0.00M" not in header
    row = next(x for x in lines if x.startswith("| chain/demo | RiM |"))
    cells = [c.strip() for c in row.split("|")[1:-1]]
    assert cells[2:4] == ["35.0 ± 7.1 (2)", "85.0 ± 7.1 (2)"]  # the 10 % run is left out
    used = [s for s in spec if s[2] == (2e-3 if s[0] == "nano" else 1e-3)]
    x = np.log([params[z] for z, *_ in used])
    acc = np.array([a for *_, a, _ in used])
    slope = np.polyfit(x, np.log(acc / (1 - acc)), 1)[0] * math.log(2)
    assert cells[4].startswith(f"{slope:.2f} [")
    checks = [x for x in lines if x.startswith("| chain/demo | mini | RiM |")]
    assert checks == ["| chain/demo | mini | RiM | 0.002 | 0 | 0.900 | – | 10.0 |",
                      "| chain/demo | mini | RiM | 0.001 (recipe) | 0, 1 | 0.250 ± 0.071 | – | "
                      "85.0 ± 7.1 |"]
    assert not any(x.startswith("| chain/demo | nano | RiM |") for x in lines)
    # a rate that is not a number (a hand-edited config) is shown as it is, not a crash
    fake_run(tmp_path / "runs", "rim-mini-odd-s2", "rim", 2, 0.5, 5.0, size="mini",
             params=16_000, lr="1e-3?")
    text = results([tmp_path / "runs" / "rim-mini-odd-s2"], tmp_path / "docs" / "RESULTS.md")
    assert "| chain/demo | mini | RiM | 1e-3? | 2 | – | – | 50.0 |" in lines_of(text)


def test_the_efficiency_table_stays_at_the_size_with_every_method(tmp_path):
    # micro: three methods, one seed each; mini: a scaling grid of two methods with more runs
    # than micro has, one of them an off-recipe learning-rate check that repeats seed 0
    runs = [fake_run(tmp_path / "runs", f"{m}-micro-s0", m, 0, acc, 5.0, lr=2e-3)
            for m, acc in (("nocot", 0.4), ("cot", 0.9), ("rim", 0.8))]
    runs += [fake_run(tmp_path / "runs", f"{m}-mini-s{s}", m, s, 0.7, 5.0, size="mini",
                      params=16_000, lr=1e-3) for m in ("nocot", "rim") for s in (0, 1)]
    runs.append(fake_run(tmp_path / "runs", "rim-mini-lr2e-3-s0", "rim", 0, 0.1, 5.0,
                         size="mini", params=16_000, lr=2e-3))
    lines = lines_of(results(runs, tmp_path / "docs" / "RESULTS.md"))
    assert "### chain/demo (size micro)" in lines
    rim = next(x for x in lines if x.startswith("| RiM |"))
    assert [c.strip() for c in rim.split("|")[1:-1]][1:3] == ["0", "80.0"]
    assert any(x.startswith("| CoT |") for x in lines)
    # with micro gone, mini's recipe runs are the table; the 10 % check is neither averaged in
    # nor drawn among the learning curves
    for m in ("nocot", "cot", "rim"):
        shutil.rmtree(tmp_path / "docs" / "results" / "runs" / f"{m}-micro-s0")
    lines = lines_of(results([], tmp_path / "docs" / "RESULTS.md"))
    assert "### chain/demo (size mini)" in lines
    rim = next(x for x in lines if x.startswith("| RiM |"))
    assert [c.strip() for c in rim.split("|")[1:-1]][1:3] == ["0, 1", "70.0 ± 0.0"]
    assert not any(x.startswith("| rim-mini-lr2e-3-s0 |") for x in lines)


def test_depth_rows_show_the_analyses_numbers(tmp_path):
    run = tmp_path / "chain-rim"
    (run / "analyses").mkdir(parents=True)
    files = {
        "alignment.json": {"kind": "block", "best_layer": 2, "diagonality": 0.4321,
                           "diagonality_ci": [0.30, 0.55], "latent_steps": [0, 1],
                           "proof_steps": 2, "matrices": {
                               "1": [[{"selectivity": 9.0}, {"selectivity": 9.0}],
                                     [{"selectivity": 9.0}, {"selectivity": 9.0}]],
                               "2": [[{"selectivity": 0.61}, {"selectivity": -0.02}],
                                     [{"selectivity": 0.05}, {"selectivity": 0.37}]]}},
        "probes.json": [
            {"layer": 1, "step": 0, "value": 0.40, "ci_lo": 0.35, "ci_hi": 0.45, "chance": 0.1,
             "n_items": 300},
            {"layer": 3, "step": 2, "value": 0.91, "ci_lo": 0.88, "ci_hi": 0.94, "chance": 0.1,
             "n_items": 300}],
        "correctness.json": {"mean_auroc_per_layer": {"0": 0.61, "1": 0.77}},
        "interventions.json": {"method": "rim", "layer": 0, "clean_accuracy": 1.0, "n": 100,
                               "results": [
                                   {"step": 0, "kind": "zero", "accuracy_change": -0.05,
                                    "accuracy_change_ci": [-0.1, 0.0]},
                                   {"step": 1, "kind": "zero", "accuracy_change": -0.30,
                                    "accuracy_change_ci": [-0.4, -0.2]},
                                   {"step": 1, "kind": "swap", "accuracy_change": -0.9,
                                    "accuracy_change_ci": [-1.0, -0.8]}]},
    }
    for name, obj in files.items():
        (run / "analyses" / name).write_text(json.dumps(obj))
    (run / "config.json").write_text(json.dumps({"train": {
        "task": "chain", "preset": "demo", "method": "rim", "size": "micro", "seed": 2}}))
    text = results([], tmp_path / "docs" / "RESULTS.md", analyses=[run])
    row = next(x for x in lines_of(text) if x.startswith("| chain-rim |"))
    cells = [c.strip() for c in row.split("|")[1:-1]]
    assert cells[1:5] == ["rim", "micro, seed 2", "block", "300"]
    assert cells[5] == "0.43 [0.30, 0.55] (layer 2)"
    assert cells[6] == "0.91 [0.88, 0.94] at layer 3, step 2; chance 0.10"
    assert cells[7] == "0.77 (layer 1)"
    assert cells[9].startswith("-0.30 [-0.40, -0.20] (step 1, layer 0; clean 1.00, n 100)")
    # the figure shows the best layer's selectivity matrix, not another layer's
    html = (tmp_path / "docs" / "results" / "depth.html").read_text()
    assert "[[0.61,-0.02],[0.05,0.37]]" in html.replace(" ", "")
    assert "[[9.0" not in html.replace(" ", "")
    assert "(results/depth.html)" in text
    assert results([], tmp_path / "docs" / "RESULTS.md") == text
    # re-rendering leaves the committed figure byte-identical (fixed div id)
    assert (tmp_path / "docs" / "results" / "depth.html").read_text() == html


def test_a_damaged_analysis_snapshot_is_a_one_line_error(tmp_path):
    import pytest

    from workbench.errors import UserError

    run = tmp_path / "chain-cot"
    (run / "analyses").mkdir(parents=True)
    (run / "analyses" / "alignment.json").write_text(json.dumps({"kind": "step"}))
    (run / "analyses" / "projections.json").write_text(
        json.dumps({"block_specificity": {"projected": None}}))  # one step: no specificity
    text = results([], tmp_path / "docs" / "RESULTS.md", analyses=[run])
    row = next(x for x in lines_of(text) if x.startswith("| chain-cot |"))
    assert [c.strip() for c in row.split("|")[1:-1]][8] == "–"
    (tmp_path / "docs" / "results" / "analyses" / "chain-cot" / "probes.json").write_text(
        json.dumps([{"value": 0.5}]))  # no layer or step
    # its schema names the file and the field
    with pytest.raises(UserError, match=r"analyses/chain-cot/probes.json: field '\[0\]\.layer'"):
        results([], tmp_path / "docs" / "RESULTS.md")


def test_each_tasks_shortcut_controls_are_tabled_from_the_runs_snapshots(tmp_path):
    from workbench.tasks import get_task
    from workbench.tasks.base import generate_split
    from workbench.tasks.controls import save_controls

    run = fake_run(tmp_path / "runs", "reach-cot", "cot", 0, 0.9, 30.0, task="reach")
    examples = list(generate_split(get_task("reach"), "demo", "test", 300, 0))
    controls = save_controls(examples, run / "controls.json")
    text = results([run], tmp_path / "docs" / "RESULTS.md")
    row = next(x for x in lines_of(text) if x.startswith("| reach/demo |"))
    bag, local = controls["bag_of_tokens"], controls["local_features"]
    assert (f"{100 * bag['accuracy']:.1f} [{100 * bag['ci'][0]:.1f}, {100 * bag['ci'][1]:.1f}]"
            in row)
    assert f"{100 * local['accuracy']:.1f}" in row and f"| {bag['n']} |" in row
    assert (tmp_path / "docs" / "results" / "runs" / "reach-cot" / "controls.json").exists()


def test_the_frontier_readout_is_tabled_from_lens_at_the_last_layer(tmp_path):
    """lens.json's frontier cells are snapshotted (compactly) and tabled per latent step at the
    last layer, the first layer's numbers left out."""
    def readout(front, unreach, gap):
        return {"frontier": {"mean_rank": {"mean": front, "ci": [front - 1, front + 1]}},
                "unreachable": {"mean_rank": {"mean": unreach, "ci": [unreach - 1, unreach + 1]}},
                "rank_gap": {"mean": gap, "ci": [gap - 2, gap + 2], "n": 40}}

    cells = [{"layer": layer, "kind": "thought", "step": step, "n": 40,
              "frontier": readout(3.0 + step, 20.0, 17.0 - step if layer == 4 else 99.0),
              "probe_frontier": readout(2.0, 11.0, 9.0 - step)}
             for layer in (0, 4) for step in (0, 1)]
    run = tmp_path / "reach-coconut"
    (run / "analyses").mkdir(parents=True)
    (run / "analyses" / "alignment.json").write_text(json.dumps(
        {"kind": "thought", "best_layer": 1, "diagonality": 0.0,
         "matrices": {"1": [[{"selectivity": 0.1}]]},
         "latent_steps": [0], "proof_steps": 1}))
    (run / "analyses" / "lens.json").write_text(json.dumps(
        {"task": "reach", "method": "coconut", "n_layers": 4, "kinds": ["thought"],
         "frontier": True, "cells": cells}))
    text = results([], tmp_path / "docs" / "RESULTS.md", analyses=[run])
    snap = tmp_path / "docs" / "results" / "analyses" / "reach-coconut"
    assert (snap / "frontier.json").exists() and not (snap / "lens.json").exists()
    rows = [x for x in lines_of(text) if x.startswith("| reach-coconut | thought")]
    assert len(rows) == 2  # one per latent step, at layer 4 only
    cells0 = [c.strip() for c in rows[0].split("|")[1:-1]]
    assert cells0[1:] == ["thought 0", "40", "3.0 [2.0, 4.0] / 20.0 [19.0, 21.0]",
                          "17.0 [15.0, 19.0]", "2.0 [1.0, 3.0] / 11.0 [10.0, 12.0]",
                          "9.0 [7.0, 11.0]"]
    assert "99.0" not in text


def test_two_presets_of_one_task_get_a_learning_curve_figure_each(tmp_path):
    """reach's padded chains and trees were drawn into one reach_curves.html, the second
    overwriting the first; each task/preset has its own figure now."""
    root = tmp_path / "runs"
    chains = fake_run(root, "reach-cot", "cot", 0, 0.99, 30.0, task="reach")
    trees = fake_run(root, "reach-trees-cot", "cot", 0, 0.60, 30.0, task="reach")
    for run, preset in ((chains, "padded"), (trees, "trees")):
        config = json.loads((run / "config.json").read_text())
        config["task"]["preset"] = preset
        (run / "config.json").write_text(json.dumps(config))
    text = results([chains, trees], tmp_path / "docs" / "RESULTS.md")
    figures = tmp_path / "docs" / "results"
    for preset, run in (("padded", "reach-cot"), ("trees", "reach-trees-cot")):
        html = (figures / f"reach_{preset}_curves.html").read_text()
        assert run in html and f"(results/reach_{preset}_curves.html)" in text
    assert "reach-trees-cot" not in (figures / "reach_padded_curves.html").read_text()
