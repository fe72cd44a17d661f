"""Causal interventions on latent steps during real inference: are the latent steps used?

For each latent step t of a method (a RiM memory block, a Coconut thought, a pause token) and each
**kind** of intervention, the residual stream at one layer is overwritten at *every* token of the
step (``LatentStep.tokens``) while the method runs its ordinary batched inference, and the answers
are compared with the clean run's. Layer 0 is the step's input (``blocks.0.hook_resid_pre``: token
plus position embedding; for Coconut the thought embedding itself); layer l ≥ 1 is the output of
block l (``blocks.{l-1}.hook_resid_post``). Kinds, per token of the step:

* ``zero`` — the state becomes 0.
* ``mean`` — mean ablation: the mean clean state of step t (same token of the step, same layer)
  over the evaluated examples.
* ``noise`` — the state is replaced by a Gaussian vector rescaled to the norm of the state it
  replaces (seeded by seed, example and step, so it does not depend on batching).
* ``swap`` — the state is the clean state of step t of a donor example; donors are a fixed seeded
  derangement of the evaluated examples (no example is its own donor).
* ``identity`` — the state is written back unchanged (a control: it must change nothing).

A condition intervenes on one step, or on every step at once (``step = "all"``). Per condition:
accuracy, its change from clean with a paired bootstrap CI over examples, the answer-flip rate
(prediction differs from the clean prediction) and, for swaps, how often the answer equals the
donor's clean answer (``follows_donor``; also among pairs whose clean answers differ). Each
condition is also broken down by the examples' reasoning depth (``by_depth``: the task's
``depth_of``, e.g. reach's candidate depth; else the number of steps): per depth, n, clean
accuracy, accuracy, its change with a bootstrap CI, and the flip rate.

Interventions ride on the rollout's per-pass hooks (:data:`workbench.rollout.PassHooks`), so a
Coconut thought changed at step t changes every later thought too. CoT's steps are generated
(their positions are unknown before decoding) and no-CoT has none: both are refused. RiM answers
are read at readout K (``all_readouts=False``).

Which layers matter: the last layer's state at a RiM block or a pause token is read by nothing
(attention reads each layer's *input*), so intervening there changes nothing by construction.
For Coconut it is the next thought (the fed-back hidden state is read after the per-pass hooks,
so an edit there reaches it).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from jaxtyping import Float
from torch import Tensor
from tqdm import tqdm

from analyses.common import bootstrap_mean_ci, check_out, save_figure, save_json, style
from workbench.config import Checked
from workbench.errors import UserError
from workbench.methods import METHODS, Method, Prediction, Tokenized, latent_kinds
from workbench.methods.base import collate
from workbench.models import HookedTransformer
from workbench.rollout import Hook, Layout, PassHooks, Recorder
from workbench.schemas import Count, LayerIndex, Seed
from workbench.stats import defined

#: Latent-step kinds that sit in the prompt (known before decoding), so they can be intervened on.
KINDS = ("zero", "mean", "noise", "swap", "identity")


@dataclass
class InterventionConfig(Checked):
    """Which run, which examples, where and how to intervene."""

    run: str = ""
    """Run directory (default: the run of --store)."""
    data: str = ""
    """Dataset file (any format the loaders read; default: the dataset of --store)."""
    store: str = ""
    """Trajectory store whose run and dataset to use when --run or --data is not given."""
    out: str = ""
    """Output directory: interventions.json and interventions.html."""
    limit: Count | None = None
    """Use the first N examples only."""
    layer: LayerIndex = 0
    """Residual-stream layer: 0 = the step's input (blocks.0.hook_resid_pre), l = after block l
    (blocks.{l-1}.hook_resid_post)."""
    kinds: list[str] = field(default_factory=lambda: ["zero", "mean", "noise", "swap"])
    """Interventions: zero, mean, noise (Gaussian rescaled to the state's norm), swap (a donor
    example's state), identity (control)."""
    all_steps: bool = True
    """Also intervene on every latent step at once (one condition per kind)."""
    seed: Seed = 0
    """Seed of the swap derangement, the noise and the bootstrap."""
    n_boot: Count = 1000
    """Bootstrap resamples (over examples) for the CI of the accuracy change."""
    batch_size: Count = 32
    """Examples per inference batch."""
    device: str = "cpu"
    """cpu or cuda."""
    quiet: bool = False
    """No progress bar."""


def hook_name(layer: int) -> str:
    """The residual-stream hook of ``layer`` (0 = embedding, l = after block l)."""
    return "blocks.0.hook_resid_pre" if layer == 0 else f"blocks.{layer - 1}.hook_resid_post"


def step_columns(method: Method, chunk: Sequence[Tokenized]) -> list[list[tuple[int, ...]]]:
    """Per example of ``chunk``, per latent step: the batch columns of the step's tokens, as
    :meth:`Method.generate` lays out the batch (column = first real column of the row +
    position). Raises :class:`UserError` for methods without latent steps in the prompt."""
    prompts = [method.prompt(e) for e in chunk]
    layout = collate(prompts, method.tok.pad_id).layout
    out = []
    for b, prompt in enumerate(prompts):
        offset = int(layout.real[b].nonzero()[0])
        steps = [s for s in method.latent_positions(prompt, []) if s.kind in latent_kinds()]
        if not steps:
            covered = ", ".join(m.name for m in METHODS.values() if m.latent)
            raise UserError(f"{method.name} has no latent steps in its prompt to intervene on "
                            f"(interventions cover {covered})", field="run")
        out.append([tuple(offset + t for t in s.tokens) for s in steps])
    return out


#: ``edit(row, step, token_indices, states)`` → replacement states (or None: leave them). ``row``
#: indexes the chunk, ``token_indices`` the step's tokens that lie in this pass.
Edit = Callable[[int, int, list[int], Float[Tensor, "tokens d_model"]], Tensor | None]


def make_pass_hooks(columns: list[list[tuple[int, ...]]], layer: int, edit: Edit) -> PassHooks:
    """Per-pass hooks that call ``edit`` on the latent-step tokens each pass covers."""
    name = hook_name(layer)

    def pass_hooks(start: int, query: Layout) -> list[Hook]:
        rows, width = query.shape
        if rows != len(columns):  # RiM's decoding rows: every latent step lies before them
            return []
        targets = []
        for b, steps in enumerate(columns):
            for t, cols in enumerate(steps):
                here = [(j, c - start) for j, c in enumerate(cols) if start <= c < start + width]
                if here:
                    targets.append((b, t, [j for j, _ in here], [c for _, c in here]))
        if not targets:
            return []

        def hook(x: Tensor, hook: object) -> Tensor | None:
            changed = None
            for b, t, js, cs in targets:
                new = edit(b, t, js, x[b, cs])
                if new is not None:
                    changed = x.clone() if changed is None else changed
                    changed[b, cs] = new.to(changed.dtype)
            return changed

        return [(name, hook)]

    return pass_hooks


def check_layer(method: Method, model: HookedTransformer, layer: int) -> None:
    """Refuse layers that do not exist or that an intervention cannot reach."""
    n = model.cfg.n_layers
    if not 0 <= layer <= n:
        raise UserError(f"layer {layer} out of range 0..{n}", field="layer")


@dataclass(frozen=True)
class Intervention:
    """Intervene on latent ``step`` (0-based) with ``kind`` (one of :data:`KINDS`)."""

    step: int
    kind: str


@dataclass
class Clean:
    """The clean run: predictions and every latent step's states at one layer."""

    layer: int
    predictions: list[Prediction]
    states: list[list[Tensor]]
    """``states[example][step]``: ``[tokens, d_model]``."""

    def mean(self, step: int) -> Float[Tensor, "tokens d_model"]:
        shapes = {tuple(s[step].shape) for s in self.states}
        if len(shapes) != 1:
            raise UserError(f"latent step {step} has different token counts across examples "
                            f"({sorted(shapes)}); mean ablation needs one shape", field="kinds")
        return torch.stack([s[step] for s in self.states]).mean(0)


def _max_new(method: Method, examples: Sequence[Tokenized]) -> int:
    from workbench.inference import answer_budget

    return answer_budget(method, examples)


@torch.no_grad()
def clean_run(method: Method, model: HookedTransformer, examples: Sequence[Tokenized], *,
              layer: int = 0, batch_size: int = 32, max_new: int | None = None) -> Clean:
    """Ordinary inference, recording each latent step's states at ``layer``. ``max_new``:
    tokens to decode at most (default: the answer budget of ``lwb eval``)."""
    max_new = max_new or _max_new(method, examples)
    preds: list[Prediction] = []
    states: list[list[Tensor]] = []
    for i in range(0, len(examples), batch_size):
        chunk = examples[i:i + batch_size]
        columns = step_columns(method, chunk)
        buf: list[list[list[Any]]] = [[[None] * len(c) for c in steps] for steps in columns]

        def record(b: int, t: int, js: list[int], x: Tensor, buf=buf) -> None:
            for j, row in zip(js, x):
                buf[b][t][j] = row.detach().clone()

        preds += method.generate(model, chunk, max_new=max_new, all_readouts=False,
                                 pass_hooks=make_pass_hooks(columns, layer, record))
        states += [[torch.stack(tokens) for tokens in steps] for steps in buf]
    return Clean(layer, preds, states)


def derangement(n: int, seed: int) -> list[int]:
    """A seeded permutation of ``range(n)`` without fixed points (the swap donors)."""
    if n < 2:
        raise UserError("swap needs at least 2 examples", field="limit")
    rng = np.random.default_rng(seed)
    while True:
        perm = rng.permutation(n)
        if not (perm == np.arange(n)).any():
            return perm.tolist()


def _noise(seed: int, example: int, step: int, shape: tuple[int, ...]) -> Tensor:
    gen = torch.Generator().manual_seed(int(np.random.SeedSequence(
        [seed, example, step]).generate_state(1)[0]))
    return torch.randn(shape, generator=gen)


@torch.no_grad()
def intervene(method: Method, model: HookedTransformer, examples: Sequence[Tokenized],
              interventions: Sequence[Intervention], *, clean: Clean | None = None,
              donors: Sequence[int] | None = None, seed: int = 0, batch_size: int = 32,
              recorder: Recorder | None = None, max_new: int | None = None
              ) -> list[Prediction]:
    """Inference with every intervention of ``interventions`` applied at once (one per step),
    at the layer of ``clean`` (the clean run of the same examples; needed by ``mean`` and
    ``swap``; without it, layer 0). ``donors[i]`` is the example whose clean state example i
    receives in a swap (default: a seeded derangement). ``recorder`` records the intervened
    run's states (one batch only)."""
    if recorder is not None and len(examples) > batch_size:
        raise ValueError("a recorder needs every example in one batch")
    kinds = {iv.kind for iv in interventions}
    if unknown := kinds - set(KINDS):
        raise UserError(f"unknown intervention kind(s) {sorted(unknown)}; choose from "
                        f"{', '.join(KINDS)}", field="kinds")
    if kinds & {"mean", "swap"} and clean is None:
        raise ValueError("mean and swap need the clean run's states")
    layer = clean.layer if clean is not None else 0
    check_layer(method, model, layer)
    if kinds & {"swap"} and donors is None:
        donors = derangement(len(examples), seed)
    todo = {iv.step: iv.kind for iv in interventions}
    means = {t: clean.mean(t) for t, kind in todo.items() if kind == "mean"}
    max_new = max_new or _max_new(method, examples)
    preds: list[Prediction] = []
    for start in range(0, len(examples), batch_size):
        chunk = examples[start:start + batch_size]
        columns = step_columns(method, chunk)
        if bad := [t for t in todo if not 0 <= t < len(columns[0])]:
            raise UserError(f"latent step(s) {bad} out of range (the method has "
                            f"{len(columns[0])})", field="step")

        def edit(b: int, t: int, js: list[int], x: Tensor, start: int = start,
                 columns: list = columns) -> Tensor | None:
            kind = todo.get(t)
            i = start + b
            if kind is None:
                return None
            if kind == "identity":
                return x.clone()
            if kind == "zero":
                return torch.zeros_like(x)
            if kind == "mean":
                return means[t][js].to(x.device)
            if kind == "swap":
                return clean.states[donors[i]][t][js].to(x.device)
            noise = _noise(seed, i, t, (len(columns[b][t]), x.shape[-1]))[js].to(x.device)
            return noise / noise.norm(dim=-1, keepdim=True) * x.norm(dim=-1, keepdim=True)

        preds += method.generate(model, chunk, max_new=max_new, all_readouts=False,
                                 pass_hooks=make_pass_hooks(columns, layer, edit),
                                 recorder=recorder)
    return preds


def summarize(answers: Sequence[str], clean: Sequence[str], intervened: Sequence[str], *,
              donors: Sequence[int] | None = None, n_boot: int = 1000,
              seed: int = 0) -> dict[str, Any]:
    """Accuracy, change from clean (paired bootstrap CI over examples), flip rate and, with
    ``donors``, the donor-follow rates."""
    ans = np.asarray(answers, dtype=object)
    base = np.asarray(clean, dtype=object)
    got = np.asarray(intervened, dtype=object)
    right, right0 = (got == ans).astype(float), (base == ans).astype(float)
    out: dict[str, Any] = {
        "accuracy": float(right.mean()),
        "accuracy_change": float(right.mean() - right0.mean()),
        "accuracy_change_ci": list(bootstrap_mean_ci(right - right0, np.arange(len(ans)),
                                                     n_boot=n_boot, seed=seed)),
        "flip_rate": float((got != base).mean()),
    }
    if donors is not None:
        donor_answer = base[np.asarray(donors)]
        follows = got == donor_answer
        differ = donor_answer != base
        out["follows_donor"] = float(follows.mean())
        out["follows_donor_when_different"] = (
            float(follows[differ].mean()) if differ.any() else None)
        out["donor_different"] = int(differ.sum())
    return out


def summarize_by_depth(depths: Sequence[int], answers: Sequence[str], clean: Sequence[str],
                       intervened: Sequence[str], *, n_boot: int = 1000, seed: int = 0
                       ) -> dict[str, dict[str, Any]]:
    """:func:`summarize` per reasoning depth (``{depth: {n, clean_accuracy, accuracy,
    accuracy_change, accuracy_change_ci, flip_rate}}``, depths in increasing order)."""
    out = {}
    depths = np.asarray(depths)
    for d in sorted(set(depths.tolist())):
        idx = np.flatnonzero(depths == d)
        pick = [answers[i] for i in idx], [clean[i] for i in idx], [intervened[i] for i in idx]
        row = summarize(*pick, n_boot=n_boot, seed=seed)
        out[str(d)] = {"n": int(len(idx)),
                       "clean_accuracy": float(np.mean([a == c for a, c in zip(*pick[:2])])),
                       **row}
    return out


def _inputs(cfg: InterventionConfig) -> tuple[str, str]:
    run, data = cfg.run, cfg.data
    if cfg.store and not (run and data):
        from workbench.artifacts import StoreManifest, read

        info = read(Path(cfg.store) / "manifest.json", StoreManifest)
        run, data = run or info.run or "", data or info.dataset or ""
    if not run or not data:
        raise UserError("give --run and --data (or --store)", field="run" if not run else "data")
    return run, data


def run(cfg: InterventionConfig) -> dict[str, Any]:
    """Every (step, kind) condition on the run; writes ``interventions.json`` and
    ``interventions.html`` under ``cfg.out`` and returns the JSON object."""
    check_out(cfg)
    from workbench.capture import CaptureConfig, load_for_capture

    if unknown := set(cfg.kinds) - set(KINDS):
        raise UserError(f"unknown intervention kind(s) {sorted(unknown)}; choose from "
                        f"{', '.join(KINDS)}", field="kinds")
    run_dir, data = _inputs(cfg)
    t0 = time.perf_counter()
    loaded, method, examples = load_for_capture(
        CaptureConfig(run=run_dir, data=data, limit=cfg.limit, device=cfg.device))
    model = loaded.model
    check_layer(method, model, cfg.layer)
    clean = clean_run(method, model, examples, layer=cfg.layer, batch_size=cfg.batch_size)
    from workbench.inference import depth_of

    answers = [e.example["answer"] for e in examples]
    base = [p.answer for p in clean.predictions]
    depths = [depth_of(e.example) for e in examples]
    n_steps = len(clean.states[0])
    step_kind = next(s.kind for s in method.latent_positions(method.prompt(examples[0]), [])
                     if s.kind in latent_kinds())
    donors = derangement(len(examples), cfg.seed) if "swap" in cfg.kinds else None
    conditions: list[tuple[int | str, str]] = [(t, k) for k in cfg.kinds for t in range(n_steps)]
    if cfg.all_steps:
        conditions += [("all", k) for k in cfg.kinds]
    results = []
    for step, kind in tqdm(conditions, desc="interventions", disable=cfg.quiet):
        steps = range(n_steps) if step == "all" else [step]
        preds = intervene(method, model, examples, [Intervention(t, kind) for t in steps],
                          clean=clean, donors=donors, seed=cfg.seed, batch_size=cfg.batch_size)
        got = [p.answer for p in preds]
        row = {"step": step, "kind": kind}
        row.update(summarize(answers, base, got, donors=donors if kind == "swap" else None,
                             n_boot=cfg.n_boot, seed=cfg.seed))
        row["by_depth"] = summarize_by_depth(depths, answers, base, got, n_boot=cfg.n_boot,
                                             seed=cfg.seed)
        results.append(row)
    clean_acc = float(np.mean([a == b for a, b in zip(answers, base)]))
    out = {
        "run": str(run_dir), "data": str(data), "method": method.name, "step_kind": step_kind,
        "steps": n_steps, "layer": cfg.layer, "hook": hook_name(cfg.layer), "n": len(examples),
        "clean_accuracy": clean_acc, "example_ids": [str(e.example.get("id")) for e in examples],
        "example_depths": depths,
        "donors": donors, "results": results,
        "seconds": time.perf_counter() - t0, "config": asdict(cfg),
    }
    save_json(out, Path(cfg.out) / "interventions.json")
    save_figure(figure(out), Path(cfg.out) / "interventions.html")
    return out


def figure(result: dict[str, Any]) -> Any:
    """Top: accuracy change per latent step, one line per kind, bootstrap CIs as error bars;
    the all-steps conditions sit apart at ``all``. Bottom (where the results carry
    ``by_depth``): one heatmap per kind of the accuracy change by example depth × latent step."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    palette = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#7f7f7f"]
    categories = [str(t) for t in range(result["steps"])] + ["all"]  # steps from 0, as stored
    kinds = list(dict.fromkeys(r["kind"] for r in result["results"]))
    depths = sorted({int(d) for r in result["results"] for d in r.get("by_depth") or {}})
    cols = max(1, len(kinds))
    rows = 2 if depths else 1
    fig = make_subplots(
        rows=rows, cols=cols, vertical_spacing=0.2, horizontal_spacing=0.06,
        specs=[[{"colspan": cols}] + [None] * (cols - 1)] + [[{}] * cols] * (rows - 1),
        subplot_titles=["accuracy change per latent step"]
        + list(kinds) * (rows - 1))  # short titles: a row of kinds fits half a page
    for color, kind in zip(palette * 2, kinds):
        for all_steps in (False, True):
            mine = [r for r in result["results"]
                    if r["kind"] == kind and (r["step"] == "all") == all_steps]
            if not mine:
                continue
            y = [r["accuracy_change"] for r in mine]
            ci = [r.get("accuracy_change_ci") or (None, None) for r in mine]
            fig.add_trace(go.Scatter(
                x=["all" if all_steps else str(r["step"]) for r in mine], y=y,
                mode="markers" if all_steps else "lines+markers", name=kind, legendgroup=kind,
                showlegend=not all_steps, marker={"color": color, "size": 9},
                line={"color": color},
                error_y={"type": "data", "symmetric": False,
                         "array": [_gap(hi, v) for v, (_, hi) in zip(y, ci)],
                         "arrayminus": [_gap(v, lo) for v, (lo, _) in zip(y, ci)]}),
                row=1, col=1)
    fig.add_hline(y=0, line={"color": "#999", "dash": "dot"}, row=1, col=1)
    fig.update_xaxes(type="category", categoryorder="array", categoryarray=categories, row=1,
                     col=1, title_text=f"latent step ({result['step_kind']}; all = every step "
                                       "at once)")
    fig.update_yaxes(title_text="accuracy change vs clean (95 % bootstrap CI)", row=1, col=1)
    for j, kind in enumerate(kinds if depths else [], start=1):
        at = {(str(r["step"]) if r["step"] != "all" else "all", d): v
              for r in result["results"] if r["kind"] == kind
              for d, v in (r.get("by_depth") or {}).items()}
        z = [[(at.get((c, str(d))) or {}).get("accuracy_change") for c in categories]
             for d in depths]
        text = [["" if (v := at.get((c, str(d)))) is None else
                 f"Δ {v['accuracy_change']:+.2f} [{v['accuracy_change_ci'][0]:+.2f}, "
                 f"{v['accuracy_change_ci'][1]:+.2f}]<br>clean {v['clean_accuracy']:.2f}, "
                 f"n {v['n']}" for c in categories] for d in depths]
        fig.add_trace(go.Heatmap(
            z=z, x=categories, y=[str(d) for d in depths], text=text, zmin=-1, zmax=1,
            colorscale="RdBu", showscale=j == 1, colorbar={"title": "Δ accuracy", "y": 0.2,
                                                           "len": 0.4},
            hovertemplate="step %{x}, depth %{y}<br>%{text}<extra></extra>"), row=2, col=j)
        fig.update_xaxes(type="category", title_text="latent step", row=2, col=j)
        fig.update_yaxes(type="category", title_text="Δ by example depth" if j == 1 else None,
                         row=2, col=j)
    title = (f"Interventions on {result['method']} {result['step_kind']}s at layer "
             f"{result['layer']} ({result['hook']}): clean accuracy "
             f"{100 * result['clean_accuracy']:.1f} %, n = {result['n']}")
    style(fig, title, f"latent step ({result['step_kind']}; all = every step at once)",
          "accuracy change vs clean (95 % bootstrap CI)")
    fig.update_layout(height=420 * rows)
    return fig


def _gap(a: Any, b: Any) -> float | None:
    """``a - b``, or None where either is undefined."""
    return a - b if defined(a) and defined(b) else None
