"""The store on disk: plain datasets can read it, damage is named, nothing half-written."""

import json

import datasets
import numpy as np
import pytest

from tests.capture.conftest import make_run
from tests.conftest import assert_user_error, lwb
from workbench import capture as capture_module
from workbench.capture import CaptureConfig, capture
from workbench.errors import UserError
from workbench.store import open_store


@pytest.fixture(scope="module")
def store(data_files, tmp_path_factory):
    root = tmp_path_factory.mktemp("store")
    run = make_run(root, "prosqa", "rim", data_files["prosqa"])
    out = root / "store"
    capture(CaptureConfig(run=str(run), data=str(data_files["prosqa"]), out=str(out),
                          quiet=True, per_token=True, hooks=["blocks.1.attn.hook_pattern"]))
    return run, out


def test_plain_datasets_and_open_store_read_the_same_rows(store):
    _, out = store
    steps = datasets.load_from_disk(str(out / "steps"))
    examples = datasets.load_from_disk(str(out / "examples"))
    s = open_store(out)
    manifest = json.loads((out / "manifest.json").read_text())
    assert len(steps) == manifest["rows"]["steps"] == 12 * 6  # 3 blocks + 3 readouts
    assert len(examples) == 12 and manifest["n_layers"] == 2 and manifest["d_model"] == 64
    assert set(manifest["kinds"]) == {"block", "readout"}
    rows = s.rows(step=1, kind="block")
    got = s.resid(2, rows)
    plain = np.stack([np.asarray(steps[int(i)]["resid"], dtype=np.float32)[2] for i in rows])
    assert got.shape == (12, 64) and np.array_equal(got, plain)
    row = steps[0]
    assert np.asarray(row["resid_tokens"]).shape == (4, 3, 64)  # <b> <m> <m> </b>
    heads = manifest["hook_shapes"]["blocks.1.attn.hook_pattern"][1]
    pattern = np.asarray(row["hook_blocks_1_attn_hook_pattern"], dtype=np.float32)
    rows_of_keys = pattern.reshape(-1, heads)
    assert np.allclose(rows_of_keys.sum(axis=0), 1.0, atol=1e-2), "attention rows sum to 1"
    for key in ("run", "checkpoint_sha256", "dataset_sha256", "method", "label_columns"):
        assert key in manifest
    assert {"y_proof_node", "y_readout_prediction", "y_answer_correct"} <= set(
        manifest["label_columns"])


def test_damaged_and_partial_stores_are_one_line_errors(store, tmp_path):
    import shutil

    _, out = store
    bad = tmp_path / "bad"
    shutil.copytree(out, bad)
    arrow = next((bad / "steps").glob("*.arrow"))
    arrow.write_bytes(arrow.read_bytes()[:200])
    with pytest.raises(UserError, match="steps: cannot read"):
        open_store(bad)
    partial = tmp_path / "partial"
    shutil.copytree(out, partial)
    (partial / "manifest.json").unlink()
    with pytest.raises(UserError, match="no manifest.json"):
        open_store(partial)
    assert_user_error(lwb("capture", "/nonexistent/run", "--data", "x.jsonl", "--out",
                          tmp_path / "s"), "/nonexistent/run")


def test_existing_store_needs_force_and_a_failed_capture_leaves_nothing(store, data_files,
                                                                        tmp_path, monkeypatch):
    run, out = store
    cfg = CaptureConfig(run=str(run), data=str(data_files["prosqa"]), out=str(out), quiet=True)
    with pytest.raises(UserError, match="already exists; pass --force"):
        capture(cfg)
    real, calls = capture_module.capture_batch, {"n": 0}

    def dies(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(capture_module, "capture_batch", dies)
    target = tmp_path / "killed"
    with pytest.raises(KeyboardInterrupt):
        capture(CaptureConfig(run=str(run), data=str(data_files["prosqa"]), out=str(target),
                              batch_size=4, quiet=True))
    assert not target.exists()
    assert not list(tmp_path.glob(".killed.partial*")), "the partial store was removed"


def test_a_bad_late_line_is_named_before_anything_is_written(store, data_files, tmp_path):
    """Capture streams the file, but checks all of it first: line 11's bad question stops it
    before a store directory exists."""
    run, _ = store
    lines = data_files["prosqa"].read_text().splitlines()
    example = json.loads(lines[10])
    example["question"] = example["question"].replace("Every", "Each", 1)
    bad = tmp_path / "late.jsonl"
    bad.write_text("\n".join(lines[:10] + [json.dumps(example)] + lines[11:]) + "\n")
    target = tmp_path / "never"
    with pytest.raises(UserError, match=r"late.jsonl:11: field 'question'"):
        capture(CaptureConfig(run=str(run), data=str(bad), out=str(target), batch_size=4,
                              quiet=True))
    assert not target.exists() and not list(tmp_path.glob(".never.partial*"))
