"""``lwb experiment`` grids: which runs a grid file means, and which finished runs it may reuse."""

import json

import pytest

from lwb.experiment import Grid, read_grid, run_grid
from workbench.errors import UserError


def test_a_grid_expands_to_named_cells_with_overrides_and_variants(tmp_path):
    grid = Grid(name="g", tasks=["chain"], methods=["nocot", "rim"], sizes=["nano", "mini"],
                seeds=[0, 1], train={"epochs": 8},
                method_options={"rim": {"memory": 2}},
                overrides=[{"size": "mini", "train": {"lr": 1e-3}},
                           {"method": "rim", "seed": 1, "options": {"anneal": "linear"}}])
    cells = {name: (train, opts) for name, train, opts in grid.runs()}
    assert len(cells) == 2 * 2 * 2
    train, opts = cells["chain-rim-mini-s1"]
    assert train == {"epochs": 8, "lr": 1e-3, "task": "chain", "method": "rim", "size": "mini",
                     "seed": 1, "preset": "demo"}
    assert opts == {"memory": 2, "anneal": "linear"}
    assert "lr" not in cells["chain-nocot-nano-s0"][0]
    assert cells["chain-rim-nano-s0"][1] == {"memory": 2}
    ablation = Grid(name="a", tasks=["chain"], methods=["nocot"], variants={
        "K2": {"method": "rim", "options": {"blocks": 2}}})
    assert [(n, o) for n, _, o in ablation.runs()] == [("chain-rim-K2-micro-s0", {"blocks": 2})]


def test_an_unknown_grid_key_is_a_one_line_error(tmp_path):
    path = tmp_path / "grid.yaml"
    path.write_text("name: g\ntasks: [chain]\nmethods: [rim]\nsedes: [0]\n")
    with pytest.raises(UserError, match=r"grid.yaml: field 'sedes': unknown key"):
        read_grid(path)


def _finished(root, name, lr, memory=2):
    run = root / name
    run.mkdir(parents=True)
    (run / "config.json").write_text(json.dumps({
        "train": {"task": "chain", "method": "rim", "size": "mini", "seed": 0, "preset": "demo",
                  "lr": lr, "out": str(run), "quiet": False},
        "method": {"name": "rim", "memory": memory}}))
    (run / "metrics.json").write_text("{}")
    return run


def test_finished_runs_are_reused_only_when_trained_as_the_grid_asks(tmp_path, monkeypatch):
    import analyses.compare
    import train.loop

    trained, compared = [], []
    monkeypatch.setattr(train.loop, "train", lambda cfg, opts: trained.append(cfg.out))
    monkeypatch.setattr(analyses.compare, "run", lambda cfg: compared.append(cfg.runs) or {})
    grid = Grid(name="g", tasks=["chain"], methods=["rim"], sizes=["mini"], seeds=[0, 1],
                method_options={"rim": {"memory": 2}},
                overrides=[{"size": "mini", "train": {"lr": 1e-3}}], out=str(tmp_path / "g"))
    _finished(tmp_path / "g", "chain-rim-mini-s0", lr=1e-3)
    run_grid(grid, quiet=True)
    # the matching finished run is skipped, the missing one trained, both compared
    assert trained == [str(tmp_path / "g" / "chain-rim-mini-s1")]
    assert compared == [[str(tmp_path / "g" / "chain-rim-mini-s0"),
                         str(tmp_path / "g" / "chain-rim-mini-s1")]]

    stale = _finished(tmp_path / "h", "chain-rim-mini-s0", lr=2e-3)
    with pytest.raises(UserError, match=r"chain-rim-mini-s0/config.json: field 'train.lr': this "
                                        r"finished run was trained with train.lr = 0.002 but the "
                                        r"grid now asks for 0.001"):
        run_grid(Grid(**{**grid.__dict__, "out": str(tmp_path / "h")}), quiet=True)
    (stale / "config.json").write_text(json.dumps({
        "train": {"lr": 1e-3}, "method": {"name": "rim", "memory": 4}}))
    with pytest.raises(UserError, match=r"field 'method.memory': .*method.memory = 4 but the "
                                        r"grid now asks for 2"):
        run_grid(Grid(**{**grid.__dict__, "out": str(tmp_path / "h")}), quiet=True)
