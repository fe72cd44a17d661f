"""One boundary for every file the workbench reads (issue 17): each artifact kind with a field
of the wrong type is one UserError naming the file and the field; deep nesting, NaN and huge
numbers are one-line errors; and (hypothesis) arbitrary JSON in any field of any schema gives a
valid object or a one-line UserError, never another exception."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from workbench import artifacts
from workbench.errors import UserError

REPO = Path(__file__).resolve().parents[1]
ZOO = REPO / "zoo" / "chain-rim"
RESULTS = REPO / "docs" / "results"


def copy_run(tmp_path: Path) -> Path:
    run = tmp_path / "run"
    shutil.copytree(ZOO, run)
    return run


def edit(file: Path, change) -> None:
    data = json.loads(file.read_text())
    change(data)
    file.write_text(json.dumps(data))


def one_line(e: pytest.ExceptionInfo, file: Path, field: str | None) -> str:
    msg = str(e.value)
    assert "\n" not in msg and msg.startswith(str(file)), msg
    if field is not None:
        assert f"field '{field}'" in msg, msg
    return msg


# -- every artifact kind, one wrong-typed field ------------------------------------------------
def test_run_config_wrong_types_and_bounds_are_named(tmp_path):
    from workbench.runs import load_run, read_config

    run = copy_run(tmp_path)
    cases = [("model.n_ctx", lambda c: c["model"].update(n_ctx=10**12)),
             ("model.d_model", lambda c: c["model"].update(d_model=-4)),
             ("model.dtype", lambda c: c["model"].update(dtype="float7")),
             ("model.n_layers", lambda c: c["model"].update(n_layers="four")),
             ("method", lambda c: c.update(method=["rim"])),
             ("task.name", lambda c: c["task"].pop("name"))]
    original = (run / "config.json").read_text()
    for field, change in cases:
        (run / "config.json").write_text(original)
        edit(run / "config.json", change)
        with pytest.raises(UserError) as e:
            read_config(run)
        one_line(e, run / "config.json", field)
        with pytest.raises(UserError):
            load_run(run, verify=False)


def test_run_manifest_metrics_and_log_wrong_types_are_named(tmp_path):
    from analyses.compare import run_row
    from workbench.runs import load_run

    run = copy_run(tmp_path)
    edit(run / "manifest.json", lambda m: m.update(sha256={"../../etc/passwd": "0" * 64}))
    with pytest.raises(UserError) as e:
        load_run(run)
    one_line(e, run / "manifest.json", "sha256.../../etc/passwd.[key]")

    edit(run / "metrics.json", lambda m: m.update(test=[1, 2]))
    with pytest.raises(UserError) as e:
        run_row(run)
    one_line(e, run / "metrics.json", "test")

    (run / "log.jsonl").write_text('{"step": 1}\n{"step": "ten"}\n{"step": 3}\n')
    with pytest.raises(UserError) as e:
        artifacts.read_log(run / "log.jsonl")
    assert str(e.value).startswith(f"{run / 'log.jsonl'}:2: field 'step'")
    (run / "log.jsonl").write_text('{"step": 1}\n{"step": 2, "lo')  # torn last line: skipped
    assert [r.step for r in artifacts.read_log(run / "log.jsonl")] == [1]


def test_tokenizer_and_checkpoint_pointer_wrong_types_are_named(tmp_path):
    from train.checkpoint import latest
    from workbench.tokenizer import Tokenizer

    run = copy_run(tmp_path)
    edit(run / "tokenizer.json", lambda t: t["vocab"].append(7))
    with pytest.raises(UserError) as e:
        Tokenizer.load(run / "tokenizer.json")
    one_line(e, run / "tokenizer.json", "vocab[146]")

    pointer = run / "checkpoints" / "latest.json"
    pointer.parent.mkdir()
    for bad, field in (({"dir": ["step-1"]}, "dir"), ({"dir": "../../.."}, "dir"),
                       ([1], None)):
        pointer.write_text(json.dumps(bad))
        with pytest.raises(UserError) as e:
            latest(run)
        one_line(e, pointer, field)


def test_store_manifest_wrong_types_and_disagreement_with_its_data_are_named(tmp_path):
    import numpy as np

    from workbench.store import open_store, write_store

    steps = {"example_id": ["a", "b"], "step": [0, 0], "kind": ["block"] * 2,
             "position": [0, 0], "resid": np.zeros((2, 3, 8))}
    write_store(tmp_path / "s", steps, {"example_id": ["a", "b"]})
    manifest = tmp_path / "s" / "manifest.json"
    good = manifest.read_text()
    edit(manifest, lambda m: m.update(d_model=16))  # the data has 8
    with pytest.raises(UserError) as e:
        open_store(tmp_path / "s")
    assert "disagrees with the data" in one_line(e, manifest, "d_model")
    for change, field in ((lambda m: m.update(rows={"steps": "two"}), "rows.steps"),
                          (lambda m: m.update(n_layers=-1), "n_layers"),
                          (lambda m: m.update(label_columns="y_x"), "label_columns")):
        manifest.write_text(good)
        edit(manifest, change)
        with pytest.raises(UserError) as e:
            open_store(tmp_path / "s")
        one_line(e, manifest, field)


def test_analysis_controls_and_benchmark_files_wrong_types_are_named(tmp_path):
    cases = {"probes.json": ([{"layer": "x", "step": 0}], "[0].layer"),
             "alignment.json": ({"best_layer": 1, "matrices": {"0": []}}, None),
             "correctness.json": ({"records": {"a": 1}}, "records"),
             "interventions.json": ({"results": [{"step": 0}]}, "results[0].kind"),
             "projections.json": ({"explained_variance_ratio": "all"},
                                  "explained_variance_ratio"),
             "compare.json": ({"rows": 3}, "rows"),
             "run.json": ({"seed": [0]}, "seed")}
    for name, (value, field) in cases.items():
        file = tmp_path / name
        file.write_text(json.dumps(value))
        with pytest.raises(UserError) as e:
            artifacts.read_analysis(file)
        one_line(e, file, field)
    file = tmp_path / "controls.json"
    file.write_text(json.dumps({"bag": {"accuracy": 2.0, "chance": 0.5, "n": 3}}))
    with pytest.raises(UserError) as e:
        artifacts.read(file, artifacts.Controls)
    one_line(e, file, "bag.accuracy")
    file = tmp_path / "bench.json"
    file.write_text("[1, 2]")
    with pytest.raises(UserError) as e:
        artifacts.read(file, artifacts.Benchmark)
    one_line(e, file, None)


def test_deep_nesting_nan_and_huge_numbers_are_one_line_errors(tmp_path):
    from workbench.io import read_json
    from workbench.runs import read_config

    run = tmp_path / "run"
    run.mkdir()
    for text, words in (("[" * 100_000 + "]" * 100_000, "nested deeper"),
                        ('{"a": NaN}', "NaN"), ('{"a": 1e999}', "too large"),
                        ('{"a": ' + "9" * 5000 + "}", "invalid JSON")):
        (run / "config.json").write_text(text)
        for read in (read_config, lambda r: read_json(r / "config.json")):
            with pytest.raises(UserError, match=words) as e:
                read(run)
            one_line(e, run / "config.json", None)
    (run / "config.json").write_bytes(b'{"model": "\xff"}')
    with pytest.raises(UserError, match="not UTF-8") as e:
        read_config(run)


def test_every_zoo_run_and_results_snapshot_still_reads():
    from workbench.runs import load_run, read_config, read_metrics

    for run in sorted(p for p in (REPO / "zoo").iterdir() if (p / "config.json").is_file()):
        assert load_run(run).metrics == read_metrics(run)
    for run in sorted((RESULTS / "runs").iterdir()):
        read_config(run, artifacts.ConfigSummary)
        read_metrics(run)
        artifacts.read_log(run / "log.jsonl")
        if (run / "controls.json").exists():
            artifacts.read(run / "controls.json", artifacts.Controls)
    for f in sorted((RESULTS / "analyses").glob("*/*.json")):
        data = artifacts.read_analysis(f)
        assert "NaN" not in json.dumps(data), "old NaN reads as None (undefined)"
    for f in sorted((RESULTS / "benchmarks").glob("*.json")):
        artifacts.read(f, artifacts.Benchmark)


# -- fuzzing the boundary ----------------------------------------------------------------------
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner,
                                                                   max_size=3),
    max_leaves=8)

SCHEMAS = [artifacts.RunConfig, artifacts.ConfigSummary, artifacts.RunManifest,
           artifacts.Metrics, artifacts.LogRecord, artifacts.TokenizerFile,
           artifacts.CheckpointPointer, artifacts.StoreManifest, artifacts.Controls,
           *artifacts.ANALYSES.values(), artifacts.Benchmark]
VALID = {artifacts.RunConfig: json.loads((ZOO / "config.json").read_text()),
         artifacts.Metrics: json.loads((ZOO / "metrics.json").read_text()),
         artifacts.RunManifest: json.loads((ZOO / "manifest.json").read_text()),
         artifacts.TokenizerFile: json.loads((ZOO / "tokenizer.json").read_text()),
         artifacts.CheckpointPointer: {"step": 5, "dir": "step-5"},
         artifacts.LogRecord: {"step": 10, "loss": 1.5}}


def _paths(value, prefix=()):
    """Every path to a value inside a JSON object."""
    if isinstance(value, dict):
        for k, v in value.items():
            yield (*prefix, k)
            yield from _paths(v, (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value[:3]):
            yield (*prefix, i)
            yield from _paths(v, (*prefix, i))


def _set(value, path, new):
    value = json.loads(json.dumps(value))
    at = value
    for p in path[:-1]:
        at = at[p]
    at[path[-1]] = new
    return value


def read_back(tmp_path: Path, name: str, schema, text: str | bytes) -> None:
    file = tmp_path / name
    file.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8", "surrogatepass"))
    try:
        artifacts.read(file, schema)
    except UserError as e:
        assert "\n" not in str(e) and str(e).startswith(str(file))


FUZZ = settings(max_examples=40, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow])


@FUZZ
@given(schema=st.sampled_from(SCHEMAS), value=json_values)
def test_any_json_value_is_a_valid_object_or_one_line(tmp_path, schema, value):
    read_back(tmp_path, "any.json", schema, json.dumps(value))


@FUZZ
@given(schema=st.sampled_from(sorted(VALID, key=lambda s: s.__name__)), data=st.data())
def test_any_value_in_any_field_of_a_valid_file_is_valid_or_one_line(tmp_path, schema, data):
    valid = VALID[schema]
    path = data.draw(st.sampled_from(list(_paths(valid))))
    new = data.draw(json_values | st.sampled_from([10**400, -(10**18), 1e308, "\ud800", "",
                                                   "x" * 10_000]))
    try:
        text = json.dumps(_set(valid, path, new))
    except ValueError:  # an integer too long for json.dumps itself
        return
    read_back(tmp_path, "field.json", schema, text)


@FUZZ
@given(schema=st.sampled_from(SCHEMAS), depth=st.integers(1, 5000),
       raw=st.binary(max_size=40))
def test_deep_nesting_and_odd_bytes_are_one_line(tmp_path, schema, depth, raw):
    read_back(tmp_path, "deep.json", schema, '{"a": ' + "[" * depth + "]" * depth + "}")
    read_back(tmp_path, "raw.json", schema, raw)
    read_back(tmp_path, "bom.json", schema, b"\xef\xbb\xbf" + json.dumps({"a": 1}).encode())
