"""Shortcut controls: held-out shallow classifiers stay at chance on reach, catch a planted leak
of the kind each stands for, and are printed by ``lwb data inspect``."""

import json
import random
from collections import Counter

import pytest

from lwb.cli import main
from workbench.tasks import generate_split, get_task
from workbench.tasks.controls import CONTROLS, answer_choice, save_controls, shortcut_controls
from workbench.tasks.loaders import load_examples
from workbench.tasks.reach import NAMES, _render, parse_question

REACH = get_task("reach")


@pytest.fixture(scope="module")
def reach():
    return list(generate_split(REACH, "demo", "test", 2000, 0))


def decoy_of(example):
    return next(c for c in example["candidates"] if c != example["answer"])


def rerender(example, edges, candidates, root):
    out = {**example, "edges": edges, "candidates": candidates, "root": root}
    out["question"] = _render(edges, candidates, root)
    return out


def decoy_has_a_child(examples, seed=0):
    """Leaky reach: an edge decoy → a fresh name is added, so the decoy is no longer a leaf."""
    rng = random.Random(seed)
    out = []
    for ex in examples:
        used = parse_question(ex["question"]).nodes
        edges = [list(e) for e in ex["edges"]]
        fresh = rng.choice([n for n in NAMES if n not in used])
        edges.insert(rng.randrange(len(edges) + 1), [decoy_of(ex), fresh])
        out.append(rerender(ex, edges, ex["candidates"], ex["root"]))
    return out


def answer_from_first_half_of_the_names(examples, seed=0):
    """Leaky reach: the answer's name is always drawn from the first half of the pool and the
    decoy's from the second half (a generator that slices a sorted pool); the graphs are kept."""
    rng = random.Random(seed)
    half = len(NAMES) // 2
    out = []
    for ex in examples:
        nodes = sorted(parse_question(ex["question"]).nodes)
        new = {ex["answer"]: rng.choice(NAMES[:half]), decoy_of(ex): rng.choice(NAMES[half:])}
        rest = [n for n in NAMES if n not in new.values()]
        new.update(zip([n for n in nodes if n not in new], rng.sample(rest, len(nodes) - 2)))
        leaky = rerender(ex, [[new[s], new[t]] for s, t in ex["edges"]],
                         [new[c] for c in ex["candidates"]], new[ex["root"]])
        leaky.update(steps=[new[s] for s in ex["steps"]], answer=new[ex["answer"]])
        leaky["proof"] = REACH.derive_proof(leaky)
        out.append(leaky)
    return out


def test_both_controls_stay_within_5_points_of_chance_on_reach(reach):
    controls = shortcut_controls(reach)
    assert set(controls) == set(CONTROLS)
    for name, c in controls.items():
        assert c["n"] == 2000 and c["folds"] == 5, name
        assert c["target"] == "answer is the first candidate"
        first = sum(e["candidates"][0] == e["answer"] for e in reach) / 2000
        assert c["chance"] == pytest.approx(max(first, 1 - first)), name
        assert abs(c["accuracy"] - c["chance"]) <= 0.05, (name, c)
        lo, hi = c["ci"]
        assert lo < c["accuracy"] < hi and hi - lo < 0.06, (name, c)


def test_a_decoy_with_a_child_is_caught_by_the_local_features_control(reach):
    leaky = decoy_has_a_child(reach[:1000])
    for ex in leaky:  # the leak is the only change: the decoy is no longer a leaf
        assert len(parse_question(ex["question"]).children[decoy_of(ex)]) == 1
    local = shortcut_controls(leaky)["local_features"]
    assert local["accuracy"] >= 0.9, local
    honest = shortcut_controls(reach[:1000])["local_features"]
    assert honest["accuracy"] <= honest["chance"] + 0.05, honest


def test_answer_names_from_one_half_of_the_pool_are_caught_by_bag_of_tokens_only(reach):
    leaky = answer_from_first_half_of_the_names(reach[:1000])
    for ex in leaky:  # valid reach examples, only renamed
        REACH.check(ex)
        assert ex["answer"] in NAMES[:40] and decoy_of(ex) in NAMES[40:]
    controls = shortcut_controls(leaky)
    assert controls["bag_of_tokens"]["accuracy"] >= 0.9, controls
    local = controls["local_features"]  # same graphs, same positions: nothing local changed
    assert abs(local["accuracy"] - local["chance"]) <= 0.05, local


def test_chain_controls_target_the_answer_and_chance_is_its_majority_class():
    chain = list(generate_split(get_task("chain"), "demo", "test", 300, 0))
    majority = Counter(e["answer"] for e in chain).most_common(1)[0][1] / 300
    controls = shortcut_controls(chain)
    for name, c in controls.items():
        assert c["target"] == "the answer" and c["n"] == 300, name
        assert c["chance"] == pytest.approx(majority), name
        assert 0.0 <= c["accuracy"] <= 1.0, name


def test_a_control_that_cannot_be_measured_says_why_instead_of_a_number():
    few = list(generate_split(REACH, "demo", "test", 6, 0))
    for c in shortcut_controls(few).values():
        assert c["accuracy"] is None and c["chance"] is None
        assert "too few for 5 folds" in c["skipped"]
    mult = list(generate_split(get_task("mult"), "tiny", "test", 60, 0))
    controls = shortcut_controls(mult)
    assert "distinct values" in controls["bag_of_tokens"]["skipped"]
    assert controls["local_features"]["skipped"] == "task mult declares no local features"


def test_prosqa_candidates_are_the_two_options_and_the_answer_names_the_target(prosqa_sample):
    prosqa = get_task("prosqa")
    for ex in load_examples(prosqa_sample):
        symbols = ex["idx_to_symbol"]
        options = prosqa.choices(ex)
        assert ex["question"].endswith(f" a {options[0]} or {options[1]}?")
        assert sorted(options) == sorted([symbols[ex["target"]], symbols[ex["neg_target"]]])
        assert prosqa.choices(ex)[answer_choice(ex, options)] == symbols[ex["target"]]
        f = prosqa.local_features(ex)
        for i in (1, 2):  # both options are leaves, stated in a fact and in the question
            assert f[f"candidate {i} out-degree"] == 0 and f[f"candidate {i} in-degree"] >= 1
            assert f[f"candidate {i} occurrences"] == f[f"candidate {i} in-degree"] + 1
        assert f["difference in-degree"] == f["candidate 1 in-degree"] - f["candidate 2 in-degree"]


def test_inspect_prints_the_controls_and_json_has_them(tmp_path, capsys):
    out = tmp_path / "reach.jsonl"
    assert main(["data", "generate", "--task", "reach", "--preset", "demo", "--n", "200",
                 "--seed", "1", "--split", "test", "--out", str(out), "--quiet"]) == 0
    capsys.readouterr()
    assert main(["data", "inspect", str(out)]) == 0
    text = capsys.readouterr().out
    block = text[text.index("shortcut controls (held-out, 5-fold"):].splitlines()
    assert [line.split("accuracy")[0].strip() for line in block[1:]] == list(
        CONTROLS.values())
    assert all("chance" in line and "95 % CI" in line and "n 200" in line for line in block[1:])
    assert main(["data", "inspect", str(out), "--json"]) == 0
    controls = json.loads(capsys.readouterr().out)["controls"]
    assert set(controls) == set(CONTROLS) and controls["local_features"]["n"] == 200
    assert main(["data", "inspect", str(out), "--json", "--no-controls"]) == 0
    assert "controls" not in json.loads(capsys.readouterr().out)
    assert main(["data", "inspect", str(out), "--no-controls"]) == 0
    assert "shortcut controls" not in capsys.readouterr().out


def test_save_controls_writes_the_measured_controls_as_json(tmp_path, reach):
    path = tmp_path / "run" / "controls.json"
    path.parent.mkdir()
    measured = save_controls(reach[:300], path)
    assert json.loads(path.read_text()) == measured == shortcut_controls(reach[:300])
    assert [p.name for p in path.parent.iterdir()] == ["controls.json"]
