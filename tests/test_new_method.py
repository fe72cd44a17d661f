"""A method registered here, in the test, and nowhere else: the registry is the only place a
method has to be known (docs/architecture.md, "A new method"). It is trained, captured,
analysed, tabled on the results page and listed by the app with no other edit."""

from __future__ import annotations

import json
import random
from dataclasses import dataclass

from lwb.cli import main
from lwb.results import results
from workbench.config import Checked
from workbench.methods import METHODS
from workbench.methods.base import Builder, Encoded, Method, Stage, Tokenized
from workbench.schemas import Count
from workbench.store import open_store
from workbench.tokenizer import PAUSE


@dataclass(frozen=True)
class MullOptions(Checked):
    """How long the method mulls."""

    mulls: Count = 3
    """Latent positions between question and answer."""


class Mull(Method):
    """question → <pause>×mulls → answer, under a name, kind and label of its own."""

    name = "mull"
    label = "Mull (test)"
    order = 25
    color = "#17becf"
    Options = MullOptions
    description = "question → mull×n → answer"
    step_kind = "mull"
    latent = True

    def _head(self, ex: Tokenized) -> list[int]:
        return [self.bos, *ex.question, *[self.tok.id(PAUSE)] * self.options.mulls, self.ans]

    def encode(self, ex: Tokenized, stage: Stage, step: int, rng: random.Random) -> Encoded:
        return Builder().add(self._head(ex)).add([*ex.answer, self.eos], weight=1.0).done()

    def prompt(self, ex: Tokenized) -> Encoded:
        return Builder().add(self._head(ex)).mark_align().done()

    def latent_steps(self, ex: Tokenized) -> int:
        return self.options.mulls

    def max_length(self, ex: Tokenized) -> int:
        return len(ex.question) + self.options.mulls + len(ex.answer) + 3

    def latent_positions(self, prompt: Encoded, emitted: list[int]) -> list:
        pause = self.tok.id(PAUSE)
        return self.positions_of(prompt, self.step_kind, [t == pause for t in prompt.tokens])


def test_a_method_registered_in_a_test_goes_through_every_floor(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(METHODS, "mull", Mull)
    data = tmp_path / "test.jsonl"
    assert main(["data", "generate", "--task", "chain", "--preset", "tiny", "--split", "test",
                 "--out", str(data), "--quiet"]) == 0
    run = tmp_path / "runs" / "chain-mull"
    # trained, with its own option flag
    assert main(["train", "--task", "chain", "--preset", "tiny", "--method", "mull", "--mulls",
                 "2", "--size", "nano", "--steps", "20", "--latency-examples", "2",
                 "--out", str(run), "--quiet"]) == 0
    config = json.loads((run / "config.json").read_text())
    assert config["method"] == {"name": "mull", "mulls": 2}
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["test"]["mean_latent_steps"] == 2.0
    # captured: two rows of its own kind per example
    store = run / "store"
    assert main(["capture", str(run), "--data", str(data), "--out", str(store), "--quiet"]) == 0
    opened = open_store(store)
    assert opened.manifest["kinds"] == ["mull"]
    steps = opened.steps.data.table
    assert sorted(set(steps.column("step").to_pylist())) == [0, 1]
    assert steps.num_rows == 2 * opened.examples.num_rows
    # analysed: its kind is the main kind, and a latent kind that interventions ablate
    from analyses.common import main_kind

    assert main_kind(opened) == "mull"
    out = run / "analyses"
    assert main(["analyze", "alignment", str(store), "--out", str(out),
                 "--n-boot", "5"]) == 0
    assert main(["analyze", "interventions", str(store), "--data", str(data),
                 "--out", str(out), "--limit", "8", "--n-boot", "5", "--quiet"]) == 0
    interventions = json.loads((out / "interventions.json").read_text())
    assert interventions["step_kind"] == "mull" and interventions["steps"] == 2
    assert {r["step"] for r in interventions["results"]} == {0, 1, "all"}
    # the results page tables it under its own label, in its own place
    text = results([run], tmp_path / "docs" / "RESULTS.md")
    # a table row labelled with the method (cells are padded to their column's width)
    assert any(line.split("|")[1].strip() == "Mull (test)" for line in text.splitlines()
               if line.startswith("|"))
    # the app lists the run and opens its store on the method's kind
    from app import data as browse

    table = browse.runs_table(tmp_path / "runs")
    assert "mull" in set(table["method"])
    assert browse.kinds_of(opened)[0] == "mull"
