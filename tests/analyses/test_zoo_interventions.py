"""On the released demo RiM model: zero-ablating every memory block lowers its accuracy."""

from pathlib import Path

import pytest

from analyses.interventions import Intervention, clean_run, intervene
from workbench.methods import get_method, tokenize
from workbench.runs import load_run
from workbench.tasks import TASKS
from workbench.tasks.base import generate_split

ZOO_RIM = Path(__file__).resolve().parents[2] / "zoo" / "chain-rim"


@pytest.mark.skipif(not ZOO_RIM.exists(), reason="the model zoo is not in this checkout")
def test_ablating_every_block_of_the_trained_demo_rim_lowers_accuracy():
    run = load_run(ZOO_RIM)
    opts = {k: v for k, v in run.config["method"].items() if k != "name"}
    method = get_method("rim", opts, run.tokenizer)
    examples = [tokenize(e, run.tokenizer)
                for e in generate_split(TASKS["chain"], "demo", "test", 48, seed=0)]

    def accuracy(preds):
        return sum(p.answer == e.example["answer"] for p, e in zip(preds, examples)) / 48

    clean = clean_run(method, run.model, examples, layer=0)
    ablated = intervene(method, run.model, examples,
                        [Intervention(step, "zero") for step in range(method.K)], clean=clean)
    identity = intervene(method, run.model, examples,
                         [Intervention(step, "identity") for step in range(method.K)],
                         clean=clean)
    assert accuracy(clean.predictions) >= 0.9
    assert [p.answer for p in identity] == [p.answer for p in clean.predictions]
    assert accuracy(ablated) <= accuracy(clean.predictions) - 0.3
