"""``lwb compare``: runs side by side (task, method, size, seed, accuracy, tokens, latency)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from workbench.artifacts import ConfigSummary
from workbench.runs import read_config, read_metrics

COLUMNS = ("run", "task", "method", "size", "seed", "lr", "parameters", "accuracy",
           "any_block_accuracy", "mean_generated_tokens", "mean_latent_steps", "ttft_ms",
           "train_seconds")


def run_row(path: Path, split: str = "test") -> dict[str, Any]:
    config = read_config(path, ConfigSummary)
    metrics = read_metrics(path)  # validated: every section is an object or absent
    result = metrics.get(split) or {}
    train = metrics.get("train") or {}
    return {
        "run": str(path), "task": f"{config['task'].get('name')}/{config['task'].get('preset')}",
        "method": config["method"].get("name"), "size": config["train"].get("size"),
        "seed": config["train"].get("seed"), "lr": config["train"].get("lr"),
        "parameters": metrics.get("parameters"),
        "accuracy": result.get("accuracy"), "any_block_accuracy": result.get("any_block_accuracy"),
        "mean_generated_tokens": result.get("mean_generated_tokens"),
        "mean_latent_steps": result.get("mean_latent_steps"), "ttft_ms": result.get("ttft_ms"),
        "train_seconds": train.get("seconds"), "n": result.get("n"),
        "final_loss": train.get("final_loss"),
        "valid_accuracy": (metrics.get("valid") or {}).get("accuracy"),
    }


def compare_runs(paths: list[Path], split: str = "test") -> list[dict[str, Any]]:
    return [run_row(Path(p), split) for p in paths]


def format_compare(rows: list[dict[str, Any]]) -> str:
    def cell(v: Any, column: str) -> str:
        if v is None:
            return "-"
        if column == "lr":
            return f"{v:g}"
        return f"{v:.3f}" if isinstance(v, float) else str(v)

    table = [list(COLUMNS)] + [[cell(r.get(c), c) for c in COLUMNS] for r in rows]
    widths = [max(len(row[i]) for row in table) for i in range(len(COLUMNS))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(row, widths)) for row in table)
