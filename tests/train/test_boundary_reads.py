"""The last raw reads go through schemas (issue 17): a checkpoint's ``state.json``, the log a
resume truncates, a finished run's ``metrics.json`` and the zoo's ``MANIFEST.json`` and
``lineage.json``. A wrongly shaped file is one line naming the file (and line) and the field,
never an AttributeError or KeyError from deep inside."""

from __future__ import annotations

import json

import pytest

from tests.train.conftest import tiny_config
from train.loop import train
from train.resume import truncate_log
from workbench.errors import UserError


@pytest.fixture
def checkpointed(tiny_chain, tmp_path):
    """A finished 6-step run with its checkpoint of step 6."""
    out = tmp_path / "run"
    train(tiny_config(tiny_chain, out, "nocot", steps=6, n_eval=4, checkpoint_every=6), {})
    return out


def resume(tiny_chain, out):
    return train(tiny_config(tiny_chain, out, "nocot", steps=6, n_eval=4, checkpoint_every=6,
                             resume=True), {})


@pytest.mark.parametrize("state, field", [([1, 2], ""), ({"step": "six"}, "step"),
                                          ({"step": -1}, "step"),
                                          ({"step": 6, "elapsed_s": "x"}, "elapsed_s")])
def test_a_wrongly_shaped_state_json_is_named(checkpointed, tiny_chain, state, field):
    (state_file,) = (checkpointed / "checkpoints").glob("step-*/state.json")
    state_file.write_text(json.dumps(state))
    with pytest.raises(UserError) as info:
        resume(tiny_chain, checkpointed)
    assert info.value.file == str(state_file) and (info.value.field or "").startswith(field)


def test_a_log_line_of_the_wrong_shape_is_named_by_its_line(tmp_path):
    log = tmp_path / "log.jsonl"
    log.write_text('{"step": 1}\n[1, 2]\n{"step": 3}\n')
    with pytest.raises(UserError) as info:
        truncate_log(log, 2)
    assert info.value.file == str(log) and info.value.line == 2
    assert log.read_text() == '{"step": 1}\n[1, 2]\n{"step": 3}\n'  # nothing rewritten


def test_truncating_the_log_keeps_records_up_to_the_step_and_drops_a_torn_last_line(tmp_path):
    log = tmp_path / "log.jsonl"
    log.write_text('{"step": 1}\n\n{"step": 2, "loss": 0.5}\n{"step": 3}\n{"step": 4, "lo')
    truncate_log(log, 2)
    assert log.read_text() == '{"step": 1}\n{"step": 2, "loss": 0.5}\n'


def test_a_finished_run_with_wrongly_shaped_metrics_is_named_on_resume(checkpointed, tiny_chain):
    (checkpointed / "metrics.json").write_text('{"test": [1, 2]}')
    with pytest.raises(UserError) as info:
        train(tiny_config(tiny_chain, checkpointed, "nocot", steps=6, n_eval=4,
                          checkpoint_every=6, resume=True), {})
    assert info.value.file == str(checkpointed / "metrics.json") and info.value.field == "test"


@pytest.mark.parametrize("manifest, field", [
    ({"sha256": [1]}, "sha256"),
    ({"sha256": {"a/config.json": "not-a-digest"}}, "sha256"),
    ({"sha256": {"../../etc/passwd": "0" * 64}}, ""),
    ({"sha256": {}, "runs": {"x": {"task": "chain"}}}, "runs"),
])
def test_a_wrongly_shaped_zoo_manifest_is_named(tmp_path, manifest, field):
    from lwb.demo import verify_zoo

    (tmp_path / "MANIFEST.json").write_text(json.dumps(manifest))
    with pytest.raises(UserError) as info:
        verify_zoo(tmp_path)
    assert info.value.file == str(tmp_path / "MANIFEST.json")
    assert (info.value.field or "").startswith(field)


def test_a_wrongly_shaped_lineage_is_named(tmp_path):
    from workbench.artifacts import Lineage, read_dict

    (tmp_path / "lineage.json").write_text('{"runs": "zoo/reach-cot"}')
    with pytest.raises(UserError) as info:
        read_dict(tmp_path / "lineage.json", Lineage)
    assert info.value.field == "runs"
