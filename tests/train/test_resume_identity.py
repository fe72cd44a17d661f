"""--resume knows a run by what it was trained on, not by how its paths were spelled: data files
by their sha256, --init-from by the sha256 of the weights, --out by being the directory itself."""

import json
import shutil

import pytest

from lwb.cli import main
from tests.train.conftest import tiny_config
from train.loop import train
from workbench.errors import UserError


def flags(cfg):
    out = []
    for key, value in cfg.to_dict().items():
        if value is None or value is False:
            continue
        flag = "--" + key.replace("_", "-")
        out += [flag] if value is True else [flag, str(value)]
    return out


def run(data, out, **kw):
    """A finished tiny run (resuming it only checks that it is the same run)."""
    return tiny_config(data, out, "nocot", steps=3, n_eval=4, **kw)


@pytest.fixture
def data(tiny_chain, tmp_path, monkeypatch):
    """A copy of the tiny data in the working directory (``d.jsonl``), which is tmp_path."""
    monkeypatch.chdir(tmp_path)
    shutil.copy(tiny_chain, tmp_path / "d.jsonl")
    return tmp_path / "d.jsonl"


def test_the_saved_config_records_each_data_file_by_resolved_path_and_sha256(data, tmp_path):
    from workbench.io import sha256_file

    train(run("d.jsonl", "base"), {})
    files = json.loads((tmp_path / "base" / "config.json").read_text())["task"]["files"]
    for split in ("train", "valid", "test"):
        assert files[split] == {"path": str(data.resolve()), "sha256": sha256_file(data)}


def test_changed_training_data_with_the_same_count_is_refused(data, tmp_path, tiny_chain,
                                                              capsys):
    cfg = tiny_config(tiny_chain, tmp_path / "base", "nocot", steps=3, n_eval=4,
                      train_data="d.jsonl")
    train(cfg, {})
    lines = data.read_text().splitlines()
    data.write_text("\n".join(reversed(lines)) + "\n")  # same examples, same count, other order
    with pytest.raises(UserError, match="different train data") as info:
        train(tiny_config(tiny_chain, tmp_path / "base", "nocot", steps=3, n_eval=4,
                          train_data="d.jsonl", resume=True), {})
    assert info.value.field == "train_data" and info.value.file == str(data.resolve())
    # on the command line: one line naming the file and the flag, exit status 2
    resume = tiny_config(tiny_chain, tmp_path / "base", "nocot", steps=3, n_eval=4,
                         train_data="d.jsonl", resume=True)
    capsys.readouterr()
    assert main(["train", *flags(resume)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and str(data.resolve()) in err[0] and "field 'train_data'" in err[0]
    assert "the file changed" in err[0]


def test_out_spelled_dot_slash_absolute_or_through_a_symlink_is_the_same_run(data, tmp_path):
    train(run("d.jsonl", "base"), {})
    (tmp_path / "link").symlink_to(tmp_path / "base")
    for out in ("./base", str(tmp_path / "base"), "link", "sub/../base"):
        (tmp_path / "sub").mkdir(exist_ok=True)
        metrics = train(run("d.jsonl", out, resume=True), {})
        assert metrics["train"]["steps"] == 3, out


def test_a_data_file_given_by_absolute_path_or_symlink_is_the_same_data(data, tmp_path):
    train(run("d.jsonl", "base"), {})
    (tmp_path / "alias.jsonl").symlink_to(data)
    for spelling in (str(data), "./d.jsonl", "alias.jsonl"):
        train(run(spelling, "base", resume=True), {})
    # a copy elsewhere with the same contents is the same data too (compared by content)
    shutil.copy(data, tmp_path / "copy.jsonl")
    train(run("copy.jsonl", "base", resume=True), {})


def test_init_from_spelled_differently_is_accepted_and_other_weights_refused(data, tmp_path):
    train(run("d.jsonl", "base"), {})
    train(run("d.jsonl", "child", init_from="base"), {})
    for spelling in ("./base", str(tmp_path / "base")):
        train(run("d.jsonl", "child", init_from=spelling, resume=True), {})
    with pytest.raises(UserError, match="without --init-from") as info:
        train(run("d.jsonl", "child", resume=True), {})
    assert info.value.field == "init_from"
    # the base retrained with another seed: same path, other weights
    shutil.rmtree(tmp_path / "base")
    train(run("d.jsonl", "base", seed=1), {})
    with pytest.raises(UserError, match="other weights") as info:
        train(run("d.jsonl", "child", init_from="base", resume=True), {})
    assert info.value.field == "init_from" and info.value.file.endswith("model.safetensors")


def test_a_run_recorded_before_data_checksums_resumes_by_resolved_path(data, tmp_path):
    """Old runs (config.json's task.files holding the path as given) stay resumable from the
    same file however spelled; another file is refused, saying why it can only compare paths."""
    train(run("d.jsonl", "base"), {})
    config_file = tmp_path / "base" / "config.json"
    config = json.loads(config_file.read_text())
    config["task"]["files"] = {s: "d.jsonl" for s in ("train", "valid", "test")}
    config_file.write_text(json.dumps(config))
    train(run(str(data), "base", resume=True), {})
    shutil.copy(data, tmp_path / "copy.jsonl")
    with pytest.raises(UserError, match="recorded by path only") as info:
        train(run("copy.jsonl", "base", resume=True), {})
    assert info.value.field == "train_data"


def test_generated_data_and_a_file_are_not_the_same_run(data, tmp_path, tiny_chain):
    train(run("d.jsonl", "base"), {})
    with pytest.raises(UserError, match="--resume without --train-data"):
        train(run("d.jsonl", "base", train_data=None, resume=True), {})
