"""Nothing the workbench loads can run code: a scan of the sources for the ways it could."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("workbench", "train", "analyses", "app", "benchmarks")


def sources():
    for package in PACKAGES:
        yield from sorted((ROOT / package).rglob("*.py"))


def calls(tree):
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            f = node.func
            name = f.attr if isinstance(f, ast.Attribute) else getattr(f, "id", "")
            owner = getattr(f.value, "id", "") if isinstance(f, ast.Attribute) else ""
            yield node, owner, name


def test_no_pickle_eval_or_exec_anywhere():
    for path in sources():
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                names = [a.name for a in node.names] + [getattr(node, "module", "") or ""]
                assert not any(n.split(".")[0] in ("pickle", "dill", "marshal", "shelve")
                               for n in names), f"{path}:{node.lineno} imports a pickler"
        for node, owner, name in calls(tree):
            assert not (owner == "" and name in ("eval", "exec")), f"{path}:{node.lineno}"


def test_every_torch_load_is_weights_only_and_numpy_never_unpickles():
    found = 0
    for path in sources():
        for node, owner, name in calls(ast.parse(path.read_text(), str(path))):
            keywords = {k.arg: k.value for k in node.keywords}
            if owner == "torch" and name == "load":
                found += 1
                assert getattr(keywords.get("weights_only"), "value", None) is True, (
                    f"{path}:{node.lineno} torch.load without weights_only=True")
            if owner == "np" and name == "load":
                assert getattr(keywords.get("allow_pickle"), "value", None) is False, (
                    f"{path}:{node.lineno} np.load must pass allow_pickle=False")
    assert found >= 1, "the checkpoint loader was scanned"


def test_weights_are_written_as_safetensors_only():
    for path in sources():
        text = path.read_text()
        assert "torch.save(model" not in text and "torch.save(self.model" not in text, path
