"""Every page of the app on the fixture runs root (streamlit.testing's AppTest): the numbers and
labels it shows, missing and corrupt artifacts as messages naming the file, bad run names
refused, and never a stack trace."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from workbench.store import open_store

MAIN = Path(__file__).resolve().parents[2] / "app" / "main.py"
PAGES = ("runs", "trajectories", "probes", "projections", "interventions", "compare")


@pytest.fixture
def page(runs_root, monkeypatch):
    """``page(name, **query)``: the app opened on a page with URL query parameters."""
    monkeypatch.setenv("LWB_RUNS", str(runs_root))

    def open_page(name: str, root: Path | None = None, **query: str) -> AppTest:
        if root is not None:
            monkeypatch.setenv("LWB_RUNS", str(root))
        at = AppTest.from_file(str(MAIN), default_timeout=120)
        at.run()
        if name != "runs":
            at.switch_page(f"views/{name}.py")
        at.query_params.update(query)
        at.run()
        assert_clean(at)
        return at

    return open_page


def assert_clean(at: AppTest) -> None:
    """No exception element (a stack trace) and no st.error on the page."""
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


def texts(at: AppTest, *kinds: str) -> list[str]:
    kinds = kinds or ("title", "header", "subheader", "markdown", "caption", "info", "warning")
    return [str(e.value) for kind in kinds for e in at.get(kind)]


def text(at: AppTest, *kinds: str) -> str:
    return "\n".join(texts(at, *kinds))


def decoded(x):
    """A plotly JSON object with its typed arrays (``{"dtype", "bdata"}``) as numpy arrays."""
    if isinstance(x, dict) and "bdata" in x and "dtype" in x:
        a = np.frombuffer(base64.b64decode(x["bdata"]), dtype=x["dtype"])
        return a.reshape([int(n) for n in str(x["shape"]).split(",")]) if "shape" in x else a
    if isinstance(x, dict):
        return {k: decoded(v) for k, v in x.items()}
    if isinstance(x, list):
        return [decoded(v) for v in x]
    return x


def figures(at: AppTest) -> list[dict]:
    """The plotly figures shown, as dicts (arrays decoded)."""
    return [decoded(json.loads(e.proto.spec)) for e in at.get("plotly_chart")]


def titles(at: AppTest) -> list[str]:
    return [title_of(f) for f in figures(at)]


def title_of(fig: dict) -> str:
    """A figure's title as read (a long title is wrapped onto lines with ``<br>``)."""
    return fig["layout"].get("title", {}).get("text", "").replace("<br>", " ")


def tables(at: AppTest) -> list[pd.DataFrame]:
    return [e.value for e in at.dataframe]


def downloads(at: AppTest) -> list[str]:
    return [e.proto.label for e in at.get("download_button")]


def chosen(at: AppTest, label: str):
    return next(s for s in at.selectbox if s.label == label)


# -- Runs ----------------------------------------------------------------------------------------
def test_runs_page_tabulates_every_run_with_its_metrics(page, runs_root):
    at = page("runs")
    runs = tables(at)[0].set_index("run")
    assert sorted(runs.index) == ["broken", "chain-cot", "chain-rim", "prosqa/rim"]
    for name in ("chain-rim", "chain-cot"):
        test = json.loads((runs_root / name / "metrics.json").read_text())
        row = runs.loc[name]
        # the broken run has none of these: each column is shown as text, "–" where undefined,
        # numbers in the column's own format
        assert row["accuracy"] == f"{test['test']['accuracy']:.3f}"
        assert row["generated tokens"] == f"{test['test']['mean_generated_tokens']:.2f}"
        assert row["time to first token (ms)"] == f"{test['test']['ttft_ms']:.2f}"
        assert row["parameters"] == str(test["parameters"])
        assert (row["task"], row["size"], row["seed"]) == ("chain/demo", "nano", "0")
        config = json.loads((runs_root / name / "config.json").read_text())
        assert float(row["learning rate"]) == pytest.approx(config["train"]["lr"])
    assert (runs.loc["broken", "accuracy"], runs.loc["broken", "seed"]) == ("–", "–")
    assert runs.loc["chain-rim", "method"] == "rim" and runs.loc["chain-cot", "method"] == "cot"
    assert "invalid JSON" in runs.loc["broken", "note"]
    assert "4 runs" in text(at)
    assert any(t.startswith("Efficiency: accuracy against inference cost") for t in titles(at))
    # every fixture run is nano: no scaling chart (its x axis would span a few embedding rows)
    # and no fits, but a note saying what is needed
    assert not any(t.startswith("Scaling") for t in titles(at))
    assert "Scaling needs runs of at least two model sizes per task; chain/demo: only nano (" in \
        text(at, "info")
    assert not any("slope" in t.columns for t in tables(at)[:-1])  # the saved comparison's last
    saved = json.loads((runs_root / "compare" / "compare.json").read_text())
    assert f"{len(saved['rows'])} runs, split test" in text(at, "caption")
    # accuracy by depth: each run's line is its metrics' by_depth, error bars the 95 % Wilson
    # interval (computed here by hand) over that depth's test examples
    depth = next(f for f in figures(at)
                 if title_of(f).startswith("Test accuracy by reasoning depth"))
    for name in ("chain-rim", "chain-cot"):
        cells = json.loads((runs_root / name / "metrics.json").read_text())["test"]["by_depth"]
        trace = next(t for t in depth["data"] if t["name"].startswith(f"{name} "))
        assert [int(d) for d in cells] == list(trace["x"])
        for c, y, up, down in zip(cells.values(), trace["y"], trace["error_y"]["array"],
                                  trace["error_y"]["arrayminus"]):
            p_, n, z = c["accuracy"], c["n"], 1.96
            centre = (p_ + z * z / (2 * n)) / (1 + z * z / n)
            half = z * ((p_ * (1 - p_) / n + z * z / (4 * n * n)) ** 0.5) / (1 + z * z / n)
            assert y == pytest.approx(p_)
            assert (y + up, y - down) == pytest.approx((centre + half, centre - half))
    assert downloads(at).count("download figure (HTML)") == len(figures(at)) == 2
    assert downloads(at).count("download table (CSV)") == len(tables(at))


def test_runs_page_filters_by_method(page):
    at = page("runs")
    method = next(m for m in at.multiselect if m.label == "method")
    method.set_value(["cot"]).run()
    assert_clean(at)
    assert tables(at)[0]["run"].tolist() == ["chain-cot"]
    assert "1 runs" in text(at)


def test_an_empty_root_says_how_to_make_a_run(page, tmp_path):
    for name in PAGES:
        at = page(name, root=tmp_path)
        assert f"no runs under {tmp_path}" in text(at, "info")
        assert "lwb train" in text(at, "info")


def test_a_root_that_is_not_a_directory_is_a_warning(page, tmp_path):
    at = page("probes", root=tmp_path / "nowhere")
    assert "the runs root is not a directory" in text(at, "warning")


# -- bad run names -------------------------------------------------------------------------------
@pytest.mark.parametrize("name", PAGES[1:])
@pytest.mark.parametrize("bad, message", [
    ("../../etc", "must be a path inside the runs root"),
    ("/etc", "must be a path inside the runs root"),
    ("escape/secret", "points outside the runs root"),
    ("no-such-run", "no run 'no-such-run'")])
def test_bad_run_names_from_the_url_are_refused_with_a_warning(page, name, bad, message):
    at = page(name, run=bad)
    assert message in text(at, "warning")
    assert chosen(at, "Run A" if name == "compare" else "Run").value != bad


def test_a_run_with_a_broken_config_says_so(page, runs_root):
    at = page("trajectories", run="broken")
    assert f"{runs_root / 'broken' / 'config.json'}:1: invalid JSON" in text(at, "warning")
    assert "no store: run `lwb capture" in text(at, "info")


# -- Trajectory browser --------------------------------------------------------------------------
def store_examples(runs_root: Path, run: str) -> pd.DataFrame:
    store = open_store(runs_root / run / "store")
    return store.examples.select_columns(["example_id", "answer", "prediction", "correct",
                                          "proof"]).to_pandas()


def titles_of(at: AppTest) -> list[str]:
    """The page's headers and markdown headings."""
    return [h.value for h in at.header] + [m.value for m in at.markdown]


def test_sections_of_another_method_are_not_shown(page, runs_root):
    """No readout heading on a CoT run's trajectory page (RiM's readouts only), while a RiM
    run's page has it."""
    assert not any("Readouts per memory block" in t
                   for t in titles_of(page("trajectories", run="chain-cot")))
    assert any("Readouts per memory block" in t
               for t in titles_of(page("trajectories", run="chain-rim")))


def test_trajectory_shows_problem_chain_lens_readouts_cosine_and_answer(page, runs_root):
    examples = store_examples(runs_root, "chain-rim")
    ex = examples.iloc[3]
    at = page("trajectories", run="chain-rim", example=ex["example_id"])
    shown = text(at)
    assert f"chain-rim · {ex['example_id']}" in shown
    mark = "correct" if ex["correct"] else "wrong"
    assert f"**Answer:** {ex['answer']} · **model:** {ex['prediction']}" in shown
    assert mark in texts(at, "markdown")[0]
    proof = json.loads(ex["proof"])
    chain = " → ".join(f"{r['var']} = {r['src']} {r['op']} {r['arg']} = {r['value']}"
                       for r in proof)
    assert f"**Dependency chain:** {proof[0]['src']} = " in shown and chain in shown
    assert "chain: the question's graph, dependency chain in red" in titles(at)

    lens = pd.read_parquet(runs_root / "chain-rim" / "analyses" / "lens.parquet")
    mine = lens[(lens["example_id"] == ex["example_id"]) & (lens["kind"] == "block")]
    grid = next(t for t in tables(at) if "step 0" in t.columns)
    for r in mine.itertuples():
        assert grid.loc[grid["layer"] == r.layer, f"step {r.step}"].item() \
            == f"{r.top_tokens[0]} ({r.top_probs[0]:.2f})"
    assert "Logit lens analyses/lens.parquet." in text(at, "caption")

    readouts = next(t for t in tables(at) if "readout prediction" in t.columns)
    # one numbering everywhere: block k is latent step k of the lens grid above, from 0
    assert readouts["block"].tolist() == sorted(mine["step"].unique().tolist()) == [0, 1]
    assert readouts["readout prediction"].iloc[-1] == ex["prediction"]
    assert readouts["proof step"].tolist() == [
        f"{r['var']} = {r['src']} {r['op']} {r['arg']} = {r['value']}" for r in proof]

    cosine = next(f for f in figures(at) if title_of(f).startswith(
        "Step-to-step cosine similarity of block states at layer 2"))
    z = cosine["data"][0]["z"]
    assert [z[0][0], z[1][1]] == pytest.approx([1.0, 1.0]) and z[0][1] == pytest.approx(z[1][0])
    assert downloads(at).count("download figure (HTML)") == len(figures(at)) == 3


def test_trajectory_without_lens_parquet_decodes_through_the_model(page, runs_root):
    at = page("trajectories", run="chain-cot")
    assert "computed now from the store through the run's ln_final and unembedding" in \
        text(at, "caption")
    grid = next(t for t in tables(at) if "step 0" in t.columns)
    assert grid["layer"].tolist() == [0, 1, 2]
    # RiM's readouts do not apply to a CoT run: no section, no "no readouts" message (issue 22)
    assert "readouts" not in text(at).lower()


def test_the_url_opens_the_trajectory_with_its_kind_and_step_marked(page, runs_root):
    """``?run=&example=&kind=&step=`` is a shareable view: the sidebar shows that choice, the
    lens and cosine figures outline that step, and a new choice is written back to the URL."""
    example = store_examples(runs_root, "chain-rim")["example_id"].iloc[2]
    at = page("trajectories", run="chain-rim", example=example, kind="block", step="1")
    assert (chosen(at, "Run").value, chosen(at, "Example").value) == ("chain-rim", example)
    assert chosen(at, "latent-step kind").value == "block"
    assert chosen(at, "latent step (marked in the figures)").value == "1"
    lens = next(f for f in figures(at) if title_of(f).startswith("Logit lens"))
    cosine = next(f for f in figures(at)
                  if title_of(f).startswith("Step-to-step cosine"))
    # step 1 is the second column of both (x categories "0: …", "1: …"): outlined there
    assert [(sh["x0"], sh["x1"]) for sh in lens["layout"]["shapes"]] == [(0.5, 1.5)]
    assert {(sh["x0"], sh["x1"], sh["y0"], sh["y1"]) for sh in cosine["layout"]["shapes"]} == {
        (0.5, 1.5, 0, 1), (0, 1, 0.5, 1.5)}  # the column, and the row (spanning the plot)
    chosen(at, "latent step (marked in the figures)").set_value("0").run()
    assert at.query_params["step"] == "0"
    lens = next(f for f in figures(at) if title_of(f).startswith("Logit lens"))
    assert [(sh["x0"], sh["x1"]) for sh in lens["layout"]["shapes"]] == [(-0.5, 0.5)]
    # a step the example does not have is a warning, and another step is shown
    at = page("trajectories", run="chain-rim", example=example, step="9")
    assert "step '9' is not among the choices (0, 1); showing another" in text(at, "warning")


def test_next_previous_and_only_wrong_answers(page, runs_root):
    examples = store_examples(runs_root, "chain-rim")
    ids = examples["example_id"].tolist()
    at = page("trajectories", run="chain-rim", example=ids[0])
    next(b for b in at.button if b.label == "next ▶").click().run()
    assert chosen(at, "Example").value == ids[1]
    assert at.query_params["example"] == ids[1]
    next(b for b in at.button if b.label == "◀ previous").click().run()
    next(b for b in at.button if b.label == "◀ previous").click().run()
    assert chosen(at, "Example").value == ids[-1]  # wraps around
    next(t for t in at.toggle if t.label == "only wrong answers").set_value(True).run()
    assert_clean(at)
    wrong = examples.loc[~examples["correct"], "example_id"].tolist()
    assert 0 < len(wrong) < len(ids)
    assert chosen(at, "Example").options == [f"{i + 1}/{len(wrong)}: {e}"
                                             for i, e in enumerate(wrong)]
    assert "wrong" in texts(at, "markdown")[0]


def test_prosqa_trajectory_draws_the_graph_with_the_proof_path(page, runs_root):
    examples = store_examples(runs_root, "prosqa/rim")
    ex = examples.iloc[0]
    at = page("trajectories", run="prosqa/rim", example=ex["example_id"])
    path = [r["parent"] for r in json.loads(ex["proof"])[:1]] + \
        [r["node"] for r in json.loads(ex["proof"])]
    assert f"**Proof path:** {' → '.join(path)}" in text(at, "markdown")
    graph = next(f for f in figures(at)
                 if title_of(f).startswith("prosqa: the question's graph"))
    on_path = next(d for d in graph["data"] if d["name"] == "on the proof path")
    assert sorted(on_path["text"]) == sorted(path)
    red = [a for a in graph["layout"]["annotations"] if a["arrowcolor"] == "#d62728"]
    assert len(red) == len(path) - 1


def test_a_run_without_a_store_names_the_capture_command(page, runs_root):
    at = page("trajectories", run="broken")
    info = text(at, "info")
    assert str(runs_root / "broken" / "store") in info and "lwb capture" in info


# -- Probes --------------------------------------------------------------------------------------
def test_probes_page_shows_heatmap_alignment_and_correctness(page, runs_root):
    at = page("probes", run="chain-rim")
    out = runs_root / "chain-rim" / "analyses"
    records = json.loads((out / "probes.json").read_text())
    best = max(records, key=lambda r: r["value"])
    assert (f"Best cell: layer {best['layer']}, step {best['step']}: balanced_accuracy "
            f"{best['value']:.3f} [{best['ci_lo']:.3f}, {best['ci_hi']:.3f}], control "
            f"{best['control']:.3f}, selectivity {best['selectivity']:.3f}") in text(at)
    heat = next(f for f in figures(at) if "Linear probes for y_proof_value" in
                title_of(f))
    hover = heat["data"][0]["text"][best["layer"]][best["step"]]
    assert f"control {best['control']:.3f}" in hover and "selectivity" in hover
    cells = next(t for t in tables(at) if "selectivity" in t.columns and "step" in t.columns)
    assert len(cells) == len(records)

    alignment = json.loads((out / "alignment.json").read_text())
    lo, hi = alignment["diagonality_ci"]
    assert (f"Diagonality at the best layer ({alignment['best_layer']}): "
            f"**{alignment['diagonality']:.3f}** [{lo:.3f}, {hi:.3f}]") in text(at)
    assert any(t.startswith("Latent step × proof step (value)") for t in titles(at))

    correctness = json.loads((out / "correctness.json").read_text())
    per_block = [r for r in correctness["records"] if r["layer"] == correctness["best_layer"]]
    assert ", ".join(f"block {r['block']} {r['value']:.3f}" for r in per_block) in text(at)
    selection = next(t for t in tables(at) if "answer" in t.columns)
    assert selection.set_index("answer").loc["final_block", "accuracy"] == pytest.approx(
        correctness["selection"]["final_block"]["accuracy"])


def test_probes_page_names_missing_and_corrupt_files(page, runs_root):
    at = page("probes", run="chain-cot")
    info = text(at, "info")
    assert f"{runs_root / 'chain-cot' / 'analyses' / 'alignment.json'}: no alignment.json" in info
    # the correctness probe reads readouts: a CoT run's page neither shows it nor advises a
    # command that would fail ("needs a RiM store")
    assert "correctness" not in text(at).lower() and "Correctness probe" not in titles_of(at)
    at = page("probes", run="prosqa/rim")
    assert f"{runs_root / 'prosqa' / 'rim' / 'analyses' / 'probes.json'}:1: invalid JSON" in \
        text(at, "warning")


def test_probes_page_shows_the_bfs_frontier_of_a_graph_task(page, runs_root):
    at = page("probes", run="prosqa/rim")
    lens = json.loads((runs_root / "prosqa" / "rim" / "analyses" / "lens.json").read_text())
    assert any("frontier" in t.lower() for t in titles(at))
    table = next(t for t in tables(at) if "rank gap" in t.columns)
    cells = [c for c in lens["cells"] if c["kind"] == "block"]
    lensed = table[table["readout"] == "logit lens"]
    assert len(lensed) == len(cells)
    for c in cells:
        row = lensed[(lensed["layer"] == c["layer"]) & (lensed["latent step"] == c["step"])]
        want = c["frontier"]["rank_gap"]["mean"]
        got = row["rank gap"].iloc[0]
        assert (want is None and pd.isna(got)) or got == pytest.approx(want)
    assert "BFS frontier" in titles_of(at)
    # a task without a graph (chain) declares no frontier: no heading, no empty section
    at = page("probes", run="chain-rim")
    assert "BFS frontier" not in titles_of(at) and "frontier" not in text(at).lower()


def test_alignment_layer_can_be_chosen(page, runs_root):
    at = page("probes", run="chain-rim")
    alignment = json.loads((runs_root / "chain-rim" / "analyses" / "alignment.json").read_text())
    other = next(la for la in alignment["matrices"] if la != str(alignment["best_layer"]))
    chosen(at, "alignment layer").set_value(other).run()
    assert_clean(at)
    title = next(t for t in titles(at) if t.startswith("Latent step × proof step"))
    assert f"layer {other}: diagonality " \
           f"{alignment['diagonality_per_layer'][other]:.3f}" in title


# -- Projections ---------------------------------------------------------------------------------
def test_projections_page_reads_the_parquet_and_draws_the_example(page, runs_root):
    saved = pd.read_parquet(runs_root / "chain-rim" / "analyses" / "projections.parquet")
    example = sorted(saved["example_id"].unique())[2]
    at = page("projections", run="chain-rim", example=example)
    fig = figures(at)[0]
    assert title_of(fig).startswith("PCA of chain-rim block states at layer 2")
    line = next(d for d in fig["data"] if d["name"] == f"trajectory: {example}")
    mine = saved[saved["example_id"] == example].sort_values("step")
    np.testing.assert_allclose(line["x"], mine["x"], rtol=1e-5)
    path = next(t for t in tables(at) if "example_id" in t.columns)
    assert path["example_id"].unique().tolist() == [example]
    chosen(at, "colour by").set_value("y_answer_correct").run()
    assert_clean(at)
    assert {d["name"] for d in figures(at)[0]["data"]} >= {"y_answer_correct = True",
                                                          "y_answer_correct = False"}


def test_projections_pca_now_in_2d_and_3d(page, runs_root):
    meta = json.loads((runs_root / "chain-rim" / "analyses" / "projections.json").read_text())
    at = page("projections", run="chain-rim")
    next(r for r in at.radio if r.label == "projection").set_value(
        "PCA now (small stores, cached)").run()
    assert_clean(at)
    fig = figures(at)[0]
    assert fig["layout"]["xaxis"]["title"]["text"] == \
        f"PC 1 ({100 * meta['explained_variance_ratio'][0]:.1f} % of variance)"
    next(t for t in at.toggle if t.label == "3D").set_value(True).run()
    assert_clean(at)
    assert {d["type"] for d in figures(at)[0]["data"]} == {"scatter3d"}


def test_projections_without_parquet_name_the_command(page, runs_root):
    at = page("projections", run="prosqa/rim")
    assert f"lwb analyze projections {runs_root / 'prosqa' / 'rim' / 'store'}" in \
        text(at, "info")


# -- Interventions -------------------------------------------------------------------------------
def test_interventions_page_shows_change_per_step_and_kind(page, runs_root):
    result = json.loads((runs_root / "chain-rim" / "analyses" / "interventions.json").read_text())
    at = page("interventions", run="chain-rim")
    assert f"Clean accuracy **{result['clean_accuracy']:.3f}** on {result['n']} examples" in \
        text(at)
    table = tables(at)[0]
    assert len(table) == len(result["results"])
    zero = next(r for r in result["results"] if r["kind"] == "zero" and r["step"] == 0)
    # step 0 on the page is step 0 in the JSON, the lens and the probes (one numbering)
    row = table[(table["kind"] == "zero") & (table["step"].astype(str) == "0")].iloc[0]
    assert row["change"] == pytest.approx(zero["accuracy_change"])
    fig = figures(at)[0]
    assert fig["layout"]["xaxis"]["categoryarray"][:2] == ["0", "1"]
    assert set(table["kind"]) == {"zero", "swap"}
    assert titles(at)[0].startswith("Interventions on rim blocks at layer 0")


def test_interventions_of_a_method_without_latent_steps_are_not_applicable(page, runs_root):
    """CoT writes its steps: the page says interventions do not apply (Method.latent) and never
    advises `lwb analyze interventions`, which would refuse the run."""
    at = page("interventions", run="chain-cot")
    assert "Not applicable: the cot method has no latent steps in its prompt to edit." in \
        text(at, "caption")
    assert "lwb analyze interventions" not in text(at) and not at.info


# -- Compare -------------------------------------------------------------------------------------
def test_compare_shows_two_runs_on_the_same_example_and_analyses(page, runs_root):
    rim, cot = store_examples(runs_root, "chain-rim"), store_examples(runs_root, "chain-cot")
    example = rim["example_id"].iloc[5]
    at = page("compare", run="chain-rim", run_b="chain-cot", example=example)
    assert chosen(at, "Run A").value == "chain-rim" and chosen(at, "Run B").value == "chain-cot"
    shown = text(at)
    assert "A: chain-rim" in shown and "B: chain-cot" in shown
    for examples in (rim, cot):
        ex = examples.set_index("example_id").loc[example]
        assert f"**Answer:** {ex['answer']} · **model:** {ex['prediction']}" in shown
    pair = tables(at)[0]
    assert pair["run"].tolist() == ["chain-cot", "chain-rim"]
    grids = [t for t in tables(at) if "step 0" in t.columns]
    assert len(grids) == 2  # one lens per run
    # one analysis at a time, Probes first: both runs' probe heatmaps and nothing else
    assert chosen(at, "analysis").options == ["Probes", "Alignment", "Correctness probe",
                                              "Interventions"]
    assert len([t for t in titles(at) if t.startswith("Linear probes")]) == 2
    assert not any(t.startswith("Interventions") for t in titles(at))
    # B (CoT) has neither readouts nor latent steps: its column says so, A's shows the analysis
    at = page("compare", run="chain-rim", run_b="chain-cot", analysis="Correctness probe")
    assert "Not applicable: the cot method has no readouts (RiM only)." in text(at, "caption")
    chosen(at, "analysis").set_value("Interventions").run()
    assert at.query_params["analysis"] == "Interventions"  # the view is in the URL
    assert "Not applicable: the cot method has no latent steps in its prompt to edit." in \
        text(at, "caption")
    assert "interventions.json: no interventions.json" not in text(at, "info")
    assert any(t.startswith("Interventions on rim blocks") for t in titles(at))
    # a pair without a RiM run is not offered the correctness probe
    at = page("compare", run="chain-cot", run_b="chain-cot")
    assert "Correctness probe" not in chosen(at, "analysis").options


def test_lwb_app_refuses_a_runs_root_that_is_not_a_directory(tmp_path):
    from tests.conftest import assert_user_error, lwb

    assert_user_error(lwb("app", "--runs", tmp_path / "nowhere"), str(tmp_path / "nowhere"),
                      "the runs root is not a directory")


def test_a_one_position_run_shows_its_alignment_as_layer_by_proof_step(page, runs_root,
                                                                        tmp_path):
    """no-CoT and iCoT have one latent position: the probes page draws its layers × proof
    steps (the alignment's layer_matrix) and offers no latent-step layer choice."""
    import shutil

    root = tmp_path / "root"
    shutil.copytree(runs_root / "chain-cot", root / "chain-cot")
    cell = {"selectivity": 0.7, "value": 0.9, "control": 0.2, "n_items": 16}
    matrix = {"0": [[cell, cell]], "1": [[cell, cell]]}
    (root / "chain-cot" / "analyses" / "alignment.json").write_text(json.dumps({
        "key": "value", "kind": "answer", "latent_steps": [0], "proof_steps": 2,
        "best_layer": 1, "diagonality": 0.0, "matrices": matrix, "layers": [0, 1],
        "layer_matrix": [[cell, None], [None, cell]]}))
    at = page("probes", root=root, run="chain-cot")
    fig = next(f for f in figures(at) if title_of(f).startswith(
        "Layer × proof step (value) at the answer position"))
    assert list(fig["data"][0]["y"]) == ["embedding", "layer 1"]
    assert [[v for v in row] for row in fig["data"][0]["z"]] == [[0.7, None], [None, 0.7]]
    assert not [s for s in at.selectbox if s.label == "alignment layer"]
