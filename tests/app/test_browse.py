"""app.data: the runs root, run names kept inside it, artifacts and what the app shows
of one example (lens, problem graph, readouts, projections)."""

import json

import numpy as np
import pandas as pd
import pytest
import torch

from analyses.lens import lens_logits
from app import data as browse
from app.layout import layered_layout
from workbench.errors import UserError
from workbench.runs import load_run
from workbench.store import open_store


def test_runs_are_directories_with_config_up_to_three_levels_inside_the_root(tmp_path):
    for name in ("a", "b/c", "b/d/e", "f/g/h/i"):
        (tmp_path / name).mkdir(parents=True)
        (tmp_path / name / "config.json").write_text("{}")
    (tmp_path / "a" / "store").mkdir()  # a run's own directories hold no runs
    (tmp_path / "a" / "store" / "config.json").write_text("{}")
    (tmp_path / ".hidden").mkdir()
    (tmp_path / ".hidden" / "config.json").write_text("{}")
    assert browse.find_runs(tmp_path) == ["a", "b/c", "b/d/e"]


def test_links_leaving_the_root_are_neither_listed_nor_opened(runs_root):
    assert "escape/secret" not in browse.find_runs(runs_root)
    with pytest.raises(UserError, match="points outside the runs root"):
        browse.resolve_run(runs_root, "escape/secret")


@pytest.mark.parametrize("name, message", [
    ("../x", "no '..'"), ("chain-rim/../chain-cot", "no '..'"), ("/etc", "absolute"),
    ("~/x", "absolute"), ("", "empty run name"), ("nope", "no run 'nope'"),
    ("chain-rim/store", "no run"), ("a/b/c/d", "deeper than 3")])
def test_bad_run_names_are_one_line_errors(runs_root, name, message):
    with pytest.raises(UserError, match=message) as e:
        browse.resolve_run(runs_root, name)
    assert "\n" not in str(e.value)


def test_runs_table_reads_config_and_test_metrics_and_notes_what_is_missing(runs_root):
    table = browse.runs_table(runs_root).set_index("run")
    assert sorted(table.index) == ["broken", "chain-cot", "chain-rim", "prosqa/rim"]
    metrics = json.loads((runs_root / "chain-rim" / "metrics.json").read_text())
    rim = table.loc["chain-rim"]
    assert (rim["method"], rim["task"], rim["size"]) == ("rim", "chain/demo", "nano")
    assert rim["accuracy"] == metrics["test"]["accuracy"]
    assert rim["ttft_ms"] == metrics["test"]["ttft_ms"]
    assert rim["parameters"] == metrics["parameters"]
    assert rim["store"] and "interventions" in rim["analyses"]
    assert "invalid JSON" in table.loc["broken", "note"]
    assert table.loc["prosqa/rim", "note"] == "no test metrics in metrics.json"


def test_missing_and_corrupt_artifacts_name_the_file_and_the_command(runs_root):
    cot = runs_root / "chain-cot"
    with pytest.raises(browse.Missing) as e:
        browse.read_analysis(cot, "interventions.json")
    assert str(cot / "analyses" / "interventions.json") in str(e.value)
    assert f"lwb analyze interventions {cot / 'store'}" in str(e.value)
    with pytest.raises(UserError, match="invalid JSON") as e:
        browse.read_analysis(runs_root / "prosqa" / "rim", "probes.json")
    assert not isinstance(e.value, browse.Missing)
    with pytest.raises(browse.Missing, match="lwb capture"):
        browse.open_run_store(runs_root / "broken")


def test_lens_computed_on_the_fly_equals_lens_parquet(runs_root):
    run = runs_root / "chain-rim"
    store = open_store(run / "store")
    steps = browse.steps_frame(store)
    lens = browse.read_analysis(run, "lens.parquet")
    loaded = load_run(run)
    for example_id in browse.examples_frame(store)["example_id"][:4]:
        rows = browse.example_steps(steps, example_id, "block")
        fly = browse.lens_on_the_fly(loaded.model, loaded.tokenizer,
                                     store.resid_all(rows["row"].to_numpy()), rows, top_k=3)
        saved = browse.lens_from_file(lens, example_id, "block")
        assert len(fly) == len(saved) == len(rows) * (store.n_layers + 1)
        assert [t[0] for t in fly["top_tokens"]] == [t[0] for t in saved["top_tokens"]]
        np.testing.assert_allclose(fly["proof_rank"], saved["proof_rank"])


def test_lens_grid_shows_the_top_token_of_each_layer_and_step(runs_root):
    run = runs_root / "chain-cot"
    store = open_store(run / "store")
    steps = browse.steps_frame(store)
    loaded = load_run(run)
    example_id = steps["example_id"][0]
    rows = browse.example_steps(steps, example_id, "step")
    states = store.resid_all(rows["row"].to_numpy())
    grid = browse.lens_grid(browse.lens_on_the_fly(loaded.model, loaded.tokenizer, states, rows))
    logits = lens_logits(loaded.model, torch.from_numpy(states.astype(np.float32)))
    top = logits.softmax(-1).max(-1)
    for t in range(len(rows)):
        for layer in range(store.n_layers + 1):
            token = loaded.tokenizer.vocab[int(top.indices[t, layer])]
            assert grid.loc[layer, f"step {t}"] == f"{token} ({float(top.values[t, layer]):.2f})"


def test_readouts_list_each_blocks_prediction_and_correctness(runs_root):
    store = open_store(runs_root / "chain-rim" / "store")
    steps = browse.steps_frame(store)
    example = browse.examples_frame(store).iloc[0]
    table = browse.readouts(browse.example_steps(steps, example["example_id"]))
    # blocks are numbered as the store numbers latent steps (from 0), as every page does
    assert table["block"].tolist() == sorted(steps.loc[steps["kind"] == "block", "step"]
                                             .unique().astype(int).tolist()) == [0, 1]
    assert table["readout prediction"].iloc[-1] == example["prediction"]  # readout K answers
    assert table["correct"].tolist() == [p == example["answer"]
                                         for p in table["readout prediction"]]
    with pytest.raises(browse.Missing, match="only RiM"):
        browse.readouts(browse.steps_frame(open_store(runs_root / "chain-cot" / "store")))


def test_chain_problem_highlights_the_dependency_chain():
    question = "m = b * 8. h = m * 8. t = b + 4. b = 6. What is h?"
    proof = [{"var": "m", "value": 4, "src": "b", "op": "*", "arg": 8},
             {"var": "h", "value": 10, "src": "m", "op": "*", "arg": 8}]
    p = browse.problem("chain", question, proof)
    assert p.path == ["b", "m", "h"]
    assert p.path_edges == {("b", "m"), ("m", "h")}
    assert set(p.edges) == {("b", "m"), ("m", "h"), ("b", "t")}
    assert p.labels["h"] == "h = m * 8 = 10" and p.labels["t"] == "t = b + 4"
    assert p.roles == {"b": "root", "h": "target"}
    assert [s for s, hot in p.statements if hot] == ["m = b * 8.", "h = m * 8.", "b = 6."]
    pos = layered_layout(p.nodes, p.edges)
    assert pos["b"][1] > pos["m"][1] > pos["h"][1]  # parents above children


def test_prosqa_problem_rebuilds_the_graph_and_its_proof_path():
    question = ("Every wumpus is a zumpus. Tom is a wumpus. Sam is a lempus. Every zumpus is a "
                "rompus. Every lempus is a gorpus. Is Tom a rompus or gorpus?")
    proof = [{"node": "wumpus", "parent": "Tom", "depth": 1},
             {"node": "zumpus", "parent": "wumpus", "depth": 2},
             {"node": "rompus", "parent": "zumpus", "depth": 3}]
    p = browse.problem("prosqa", question, proof)
    assert p.path == ["Tom", "wumpus", "zumpus", "rompus"]
    assert ("Sam", "lempus") in p.edges and ("Sam", "lempus") not in p.path_edges
    assert p.roles == {"Tom": "root", "rompus": "target", "gorpus": "other option"}
    assert [s for s, hot in p.statements if hot] == [
        "Every wumpus is a zumpus.", "Tom is a wumpus.", "Every zumpus is a rompus."]
    assert browse.problem("mult", "12 * 34", []) is None


def test_reach_problem_draws_both_components_and_highlights_the_proof_path():
    from workbench.tasks import TASKS
    from workbench.tasks.base import generate_split
    from workbench.tasks.reach import parse_question

    for preset in ("tiny", "trees", "padded"):
        for ex in generate_split(TASKS["reach"], preset, "test", 5, seed=3):
            p = browse.problem("reach", ex["question"], ex["proof"])
            assert p.path == [ex["root"], *ex["steps"], ex["answer"]]  # root → steps → answer
            assert p.path_edges <= set(p.edges)
            assert set(p.edges) == {tuple(e) for e in ex["edges"]}  # both components
            assert set(p.nodes) == {v for e in ex["edges"] for v in e}
            other = next(c for c in ex["candidates"] if c != ex["answer"])
            assert p.roles[ex["root"]] == "root" and p.roles[ex["answer"]] == "target"
            assert p.roles[other] == "other option"
            assert list(p.roles.values()).count("other root") == 1
            decoy_root = next(n for n, r in p.roles.items() if r == "other root")
            parent = {t: s for s, t in ex["edges"]}
            up = other
            while up in parent:
                up = parent[up]
            assert up == decoy_root  # the root of the other candidate's component
            # trees are padded: every pair joined to nothing is drawn as padding
            noise = {n for n, r in p.roles.items() if r == "noise"}
            lone = {s for s, t in ex["edges"] if s not in parent and s not in (ex["root"], up)}
            lone |= {t for s, t in ex["edges"] if s in lone}
            assert noise == lone and (preset != "tiny" or not noise)
            hot = [s for s, on in p.statements if on]
            assert hot == [f"{a} {b} |" for a, b in parse_question(ex["question"]).edges
                           if (a, b) in p.path_edges]
            assert len(hot) == ex["depth"]
            assert p.labels[ex["answer"]] == f"{ex['answer']} (depth {ex['depth']})"
            pos = layered_layout(p.nodes, p.edges)
            assert all(pos[a][1] > pos[b][1] for a, b in p.path_edges)


def test_proof_labels_say_what_each_step_establishes():
    assert browse.proof_label({"y_proof_var": "c", "y_proof_value": 7.0, "y_proof_src": "a",
                               "y_proof_op": "+", "y_proof_arg": 4.0}) == "c = a + 4 = 7"
    assert browse.proof_label({"y_proof_node": "zumpus", "y_proof_parent": "wumpus"}) \
        == "wumpus → zumpus"
    assert browse.proof_label({"y_proof_node": None, "y_proof_length": 3}) == ""


def test_cosine_matrix_is_one_on_the_diagonal_and_symmetric():
    x = np.random.default_rng(0).normal(size=(4, 8))
    sim = browse.cosine_matrix(x)
    np.testing.assert_allclose(np.diag(sim), 1.0)
    np.testing.assert_allclose(sim, sim.T)
    assert sim[0, 1] == pytest.approx(x[0] @ x[1] / np.linalg.norm(x[0]) / np.linalg.norm(x[1]))


def test_pca_on_a_click_is_the_projections_analysis_fit(runs_root):
    run = runs_root / "chain-rim"
    store = open_store(run / "store")
    saved = browse.read_analysis(run, "projections.parquet")
    meta = browse.read_analysis(run, "projections.json")
    df, explained = browse.pca_frame(store, meta["layer"], meta["kind"])
    pd.testing.assert_frame_equal(df[["x", "y", "example_id", "step"]],
                                  saved[["x", "y", "example_id", "step"]])
    np.testing.assert_allclose(explained, meta["explained_variance_ratio"], rtol=1e-5)
