"""The app degrades per artifact (issue 17): a wrongly shaped or missing artifact is a short
notice in its own place, naming the file and the field, and the rest of the page works; a file
that is a symlink leading out of the runs root is never opened; no stack trace reaches the page.

The runs root is built from the zoo's small JSON files (no training, no store)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

REPO = Path(__file__).resolve().parents[2]
MAIN = REPO / "app" / "main.py"
ZOO = REPO / "zoo" / "chain-rim"

PROBES = [{"layer": la, "step": s, "kind": "block", "target": "y_proof_value", "metric":
           "balanced_accuracy", "value": 0.5 + 0.1 * la, "ci_lo": 0.4, "ci_hi": 0.9,
           "control": 0.2, "selectivity": 0.3 + 0.1 * la, "chance": 0.1, "majority": 0.2,
           "n_items": 50, "n_classes": 10} for la in range(2) for s in range(2)]


def make_run(root: Path, name: str, metrics: object | None = None) -> Path:
    run = root / name
    run.mkdir(parents=True)
    shutil.copyfile(ZOO / "config.json", run / "config.json")
    if metrics is None:
        shutil.copyfile(ZOO / "metrics.json", run / "metrics.json")
    else:
        (run / "metrics.json").write_text(json.dumps(metrics))
    return run


@pytest.fixture
def root(tmp_path):
    root = tmp_path / "runs"
    good = make_run(root, "good")
    make_run(root, "bad", {"test": [1, 2]})  # well-formed JSON, wrong shape
    linked = make_run(root, "linked")
    outside = tmp_path / "outside"
    outside.mkdir()
    secret = json.loads((ZOO / "metrics.json").read_text())
    secret["test"]["accuracy"] = 0.777
    (outside / "metrics.json").write_text(json.dumps(secret))
    (linked / "metrics.json").unlink()
    (linked / "metrics.json").symlink_to(outside / "metrics.json")

    analyses = good / "analyses"
    analyses.mkdir()
    (analyses / "probes.json").write_text(json.dumps(PROBES))
    (analyses / "alignment.json").write_text(json.dumps({"best_layer": 0, "matrices": "x"}))
    # what an older correctness analysis wrote when every readout was right: NaN everywhere
    (analyses / "correctness.json").write_text(
        '{"records": [{"layer": 0, "block": 0, "value": NaN, "ci_lo": NaN, "ci_hi": NaN, '
        '"metric": "auroc"}], "best_layer": 0, "mean_auroc_per_layer": {"0": NaN}, '
        '"selection": {"final_block": {"accuracy": 1.0, "ci": [1.0, 1.0], "n": 300}}}')
    (outside / "interventions.json").write_text(json.dumps({"results": []}))
    (analyses / "interventions.json").symlink_to(outside / "interventions.json")
    return root


def open_page(root: Path, monkeypatch, name: str, **query: str) -> AppTest:
    monkeypatch.setenv("LWB_RUNS", str(root))
    at = AppTest.from_file(str(MAIN), default_timeout=120)
    at.run()
    if name != "runs":
        at.switch_page(f"views/{name}.py")
    at.query_params.update(query)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    return at


def text(at: AppTest, *kinds: str) -> str:
    kinds = kinds or ("markdown", "caption", "info", "warning")
    return "\n".join(str(e.value) for kind in kinds for e in at.get(kind))


def test_a_wrongly_shaped_metrics_file_breaks_only_its_own_row(root, monkeypatch):
    at = open_page(root, monkeypatch, "runs")
    runs = at.dataframe[0].value.set_index("run")
    assert set(runs.index) == {"good", "bad", "linked"}
    assert runs.loc["good", "accuracy"] == "1.000", "the other runs still show their numbers"
    assert runs.loc["good", "note"] == "–"  # no note: undefined, shown as such
    note = runs.loc["bad", "note"]
    assert f"{root / 'bad' / 'metrics.json'}: field 'test'" in note and "\n" not in note
    assert runs.loc["bad", "method"] == "rim", "its config still fills the row"


def test_a_symlinked_file_leading_out_of_the_root_is_not_opened(root, monkeypatch):
    at = open_page(root, monkeypatch, "runs")
    runs = at.dataframe[0].value.set_index("run")
    assert "outside the runs root" in runs.loc["linked", "note"]
    assert runs.loc["linked", "accuracy"] != 0.777, "the file outside the root was read"
    at = open_page(root, monkeypatch, "interventions", run="good")
    warnings = text(at, "warning")
    assert f"{root / 'good' / 'analyses' / 'interventions.json'}" in warnings
    assert "outside the runs root" in warnings


def test_a_bad_analysis_is_a_notice_in_its_section_and_the_others_render(root, monkeypatch):
    at = open_page(root, monkeypatch, "probes", run="good")
    shown = text(at)
    # the alignment section names its file and field ...
    assert f"{root / 'good' / 'analyses' / 'alignment.json'}: field 'matrices'" in shown
    # ... the probes above it still draw their heatmap and best cell
    assert "Best cell: layer 1" in shown
    assert any("Linear probes" in json.loads(e.proto.spec)["layout"]["title"]["text"]
               .replace("<br>", " ") for e in at.get("plotly_chart"))
    # the undefined correctness AUROC says why instead of printing nan
    assert "Correctness AUROC undefined: every answer is correct (one class)" in shown
    assert "undefined (one class)" in shown
    assert "nan" not in shown.lower().replace("nano", "")
