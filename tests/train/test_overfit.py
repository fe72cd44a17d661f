"""Every method can fit 32 examples perfectly: the objective, masks and decoding agree."""

import pytest

from tests.train.conftest import tiny_config
from train.loop import train

CASES = {
    "nocot": ({}, 150),
    "cot": ({}, 150),
    "pause": ({"pauses": 2}, 150),
    "coconut": ({"max_latent_stage": 2, "epochs_per_stage": 40}, 200),
    "rim": ({"blocks": 2, "stage1_fraction": 0.3}, 200),
}


@pytest.mark.parametrize("method", list(CASES))
def test_each_method_overfits_32_examples(method, tiny_chain, tmp_path):
    options, steps = CASES[method]
    metrics = train(tiny_config(tiny_chain, tmp_path / method, method, steps=steps), options)
    assert metrics["test"]["n"] == 32
    assert metrics["test"]["accuracy"] == 1.0, metrics["test"]
    if method == "rim":
        assert metrics["test"]["any_block_accuracy"] == 1.0
