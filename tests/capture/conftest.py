from dataclasses import asdict
from pathlib import Path

import pytest

from workbench.methods import get_method, tokenize
from workbench.models import build_model, model_config
from workbench.runs import save_run
from workbench.tasks import TASKS, task_tokenizer
from workbench.tasks.base import generate_split
from workbench.tasks.loaders import write_jsonl

OPTIONS = {"nocot": {}, "cot": {}, "pause": {"pauses": 3},
           "coconut": {"max_latent_stage": 2, "thoughts_per_step": 2}, "rim": {"blocks": 3}}


@pytest.fixture(scope="session")
def data_files(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("capture-data")
    files = {}
    for task in ("chain", "prosqa"):
        files[task] = root / f"{task}.jsonl"
        write_jsonl(files[task], generate_split(TASKS[task], "tiny", "test", 12, seed=1))
    return files


def make_run(root: Path, task: str, method: str, data: Path, seed: int = 0) -> Path:
    """A randomly initialised run of a method (capture does not need a trained model)."""
    from workbench.tasks.loaders import load_examples

    tok = task_tokenizer(task)
    m = get_method(method, OPTIONS[method], tok)
    exs = [tokenize(e, tok) for e in load_examples(data)]
    if hasattr(m, "resolve"):
        m.resolve(exs)
    n_ctx = max(m.max_length(e) for e in exs) + 16
    cfg = {"model": model_config("nano", len(tok), n_ctx, seed=seed),
           "task": {"name": task, "preset": "tiny"},
           "method": {"name": method, **asdict(m.options)}, "train": {"seed": seed}}
    path = root / f"{task}-{method}"
    save_run(path, build_model(cfg["model"]), tok, cfg)
    return path
