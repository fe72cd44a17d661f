"""The training loop: AdamW, warm-up and cosine schedule per curriculum segment, clipping,
periodic validation, atomic checkpoints, exact resumption, NaN detection, data parallelism.

Everything random is derived from the seed and the step (data order from (seed, epoch), stage
mixing from (seed, step, example)), so a run resumed from a checkpoint takes exactly the steps an
uninterrupted run would have taken and ends with the same weights.
"""

from __future__ import annotations

import contextlib
import functools
import math
import random
import shutil
import time
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch
from tqdm import tqdm

from train import checkpoint
from train.config import TrainConfig
from train.data import fresh_examples, load_split, tokenize_split
from train.distributed import (
    Objective,
    World,
    barrier,
    parallel,
    setup,
    sum_scalar,
    teardown,
)
from train.imported import grown_state, is_imported, model_config_for, tokenizer_for
from train.prefetch import Prefetch
from train.resume import check_same_run, truncate_log
from workbench.errors import UserError
from workbench.inference import evaluate
from workbench.io import append_jsonl, atomic_write_json, atomic_write_text, sha256_file
from workbench.lock import exclusive
from workbench.methods import Method, Tokenized, get_method
from workbench.methods.base import Batch, Stage
from workbench.models import build_model, count_parameters, model_config
from workbench.runs import (
    CONFIG,
    CONTROLS,
    LOG,
    METHOD_WEIGHTS,
    METRICS,
    TOKENIZER,
    WEIGHTS,
    read_config,
    save_weights,
    write_manifest,
)
from workbench.tasks import task_tokenizer
from workbench.tasks.base import SPLITS
from workbench.tasks.controls import save_controls
from workbench.tokenizer import Tokenizer

CTX_SLACK = 8


def stage_at(stages: list[Stage], step: int) -> Stage:
    for s in stages:
        if s.start <= step < s.end:
            return s
    return stages[-1]


def learning_rate(cfg: TrainConfig, stages: list[Stage], step: int, total: int) -> float:
    """Linear warm-up then cosine decay, restarting at every stage that resets the optimizer."""
    resets = [s.start for s in stages if s.reset]
    seg_start = max([0, *[r for r in resets if r <= step]])
    seg_end = min([total, *[r for r in resets if r > step]])
    t = step - seg_start
    if t < cfg.warmup_steps:
        return cfg.lr * (t + 1) / cfg.warmup_steps
    span = max(1, seg_end - seg_start - cfg.warmup_steps)
    progress = min(1.0, (t - cfg.warmup_steps) / span)
    floor = cfg.lr * cfg.min_lr_ratio
    return floor + (cfg.lr - floor) * 0.5 * (1 + math.cos(math.pi * progress))


def make_optimizer(model: torch.nn.Module, cfg: TrainConfig) -> torch.optim.Optimizer:
    decay = [p for n, p in model.named_parameters() if p.ndim >= 2]
    other = [p for n, p in model.named_parameters() if p.ndim < 2]
    return torch.optim.AdamW(
        [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": other, "weight_decay": 0}],
        lr=cfg.lr, betas=(0.9, 0.98))


@functools.lru_cache(maxsize=2)
def epoch_order(n: int, seed: int, epoch: int) -> tuple[int, ...]:
    """The epoch's shuffled order of the ``n`` training examples (kept: every step of an
    epoch reads it)."""
    order = list(range(n))
    random.Random(f"order/{seed}/{epoch}").shuffle(order)
    return tuple(order)


def bucketed_window(order: Sequence[int], lengths: Sequence[int], batch_size: int,
                    rng: random.Random) -> list[list[int]]:
    """One window of the epoch's order cut into batches of similar length: sorted by length
    (ties keep the shuffled order), cut into batches, the batches shuffled."""
    ranked = sorted(order, key=lambda i: lengths[i])
    batches = [ranked[i:i + batch_size] for i in range(0, len(ranked), batch_size)]
    rng.shuffle(batches)
    return batches


def data_files(cfg: TrainConfig) -> dict[str, dict[str, str] | None]:
    """What ``config["task"]["files"]`` records: per split, ``None`` for the task's generated
    split, else the file's resolved path and the sha256 of its contents (what ``--resume``
    compares, so a changed file is refused and another spelling of the same file is not)."""
    files: dict[str, dict[str, str] | None] = {}
    for split in SPLITS:
        given = getattr(cfg, f"{split}_data")
        files[split] = None if not given else {"path": str(Path(given).resolve()),
                                                "sha256": sha256_file(given)}
    return files


def build_config(cfg: TrainConfig, method: Method, tok: Tokenizer, n_ctx: int,
                 sizes: dict[str, int]) -> dict[str, Any]:
    return {
        "model": model_config(cfg.size, len(tok), n_ctx, cfg.seed),
        "task": {"name": cfg.task, "preset": cfg.preset, "data_seed": cfg.data_seed,
                 "sizes": sizes, "files": data_files(cfg)},
        "method": {"name": method.name, **asdict(method.options)},
        "train": cfg.to_dict(),
    }


def init_from_run(model: torch.nn.Module, config: dict[str, Any], tok: Tokenizer,
                  source: str, loaded: Any = None) -> dict[str, Any]:
    """Load a finished run's final weights into ``model``; returns what the new run records
    (the source run, its method and the sha256 of its weights). Shapes and vocabularies must
    agree, except the context length: positions both models have take the source's embedding,
    positions beyond the source's context keep their fresh initialisation (the source never
    trained them). Every other difference is a one-line error naming the source."""
    from workbench.runs import load_run

    src = loaded or load_run(source)
    imported = is_imported(src)
    if (tokenizer_for(src) if imported else src.tokenizer) != tok:
        raise UserError("its tokenizer differs from this run's (another task?)",
                        file=Path(source) / TOKENIZER, field="init_from")
    mine, theirs = config["model"], src.config["model"]
    grows = ("d_vocab",) if imported else ()  # an imported model gains the roles' tokens
    for key in sorted(set(mine) | set(theirs)):
        if key not in ("seed", "n_ctx", *grows) and mine.get(key) != theirs.get(key):
            raise UserError(f"model.{key} is {theirs.get(key)!r} there but {mine.get(key)!r} here "
                            "(pass the same --size)", file=Path(source) / CONFIG,
                            field="init_from")
    state = grown_state(src.model.state_dict(), int(mine["d_vocab"]))
    own_pos = model.state_dict()["pos_embed.W_pos"].clone()
    shared = min(len(own_pos), len(state["pos_embed.W_pos"]))
    own_pos[:shared] = state["pos_embed.W_pos"][:shared]
    state["pos_embed.W_pos"] = own_pos
    model.load_state_dict(state)
    return {"run": str(source), "method": src.config["method"]["name"],
            "weights_sha256": sha256_file(Path(source) / WEIGHTS)}


class Trainer:
    """One training run (see :func:`train`)."""

    def __init__(self, cfg: TrainConfig, method_options: dict[str, Any] | None = None) -> None:
        if not cfg.out:
            raise UserError("--out is required (the run directory to create)", field="out")
        from workbench.safety import check_output

        # the run directory never aliases what the run reads (its data files, the run it starts
        # from): not the same path, not inside one, not holding one
        check_output(cfg.out, inputs={"train_data": cfg.train_data, "valid_data": cfg.valid_data,
                                      "test_data": cfg.test_data, "init_from": cfg.init_from})
        self.cfg = cfg
        self.world: World = setup(cfg.device)
        if cfg.threads:
            torch.set_num_threads(cfg.threads)
        self.out = Path(cfg.out)
        self.created: dict[str, bool] | None = None  # set by prepare_run_dir on a fresh run
        # an imported model (lwb import) brings its own tokenizer and shape
        self.source = None
        if cfg.init_from:
            from workbench.runs import load_run

            self.source = load_run(cfg.init_from)
        base = self.source if self.source is not None and is_imported(self.source) else None
        self.tok = tokenizer_for(base) if base else task_tokenizer(cfg.task)
        if cfg.depth_warmup and not cfg.fresh:
            raise UserError("--depth-warmup shapes the fresh batches; pass --fresh too",
                            field="depth_warmup")
        if cfg.fresh and cfg.train_data:
            raise UserError("--fresh draws training examples from the task's generator; it "
                            "cannot be combined with --train-data", field="fresh")
        raw = {s: load_split(cfg, s) for s in SPLITS}
        self.data: dict[str, list[Tokenized]] = {
            s: tokenize_split(raw[s], self.tok, getattr(cfg, f"{s}_data") or f"{s} split")
            for s in SPLITS}
        self.method = get_method(cfg.method, method_options, self.tok)
        if hasattr(self.method, "resolve"):
            self.method.resolve(self.data["train"])
        longest = max(self.method.max_length(e) for s in SPLITS for e in self.data[s])
        n_ctx = cfg.n_ctx or longest + CTX_SLACK
        if n_ctx < longest:
            raise UserError(f"--n-ctx {n_ctx} is shorter than the longest sequence ({longest})",
                            field="n_ctx")
        sizes = {s: len(v) for s, v in self.data.items()}
        self.config = build_config(cfg, self.method, self.tok, n_ctx, sizes)
        if base:
            self.config["model"] = model_config_for(base, self.tok, longest, cfg.init_from)
            self.config["train"]["size"] = "imported"  # the shape is the imported model's
            n_ctx = self.config["model"]["n_ctx"]
        self.n_ctx = n_ctx
        self.model = build_model(self.config["model"], device=cfg.device)
        if cfg.init_from:
            self.config["init"] = init_from_run(self.model, self.config, self.tok, cfg.init_from,
                                                loaded=self.source)
            self.source = None  # its weights are in self.model now
        # the method's own parameters (if any) train beside the model's
        extra = self.method.attach(self.model, seed=cfg.seed)
        self.trainable: torch.nn.Module = (self.model if extra is None
                                           else torch.nn.ModuleList([self.model, extra]))
        #: a step's loss as one module call; :meth:`run` wraps it for data parallelism
        self.objective = Objective(self.trainable, self.batch_loss)
        self.step_loss: torch.nn.Module = self.objective
        if cfg.compile:
            from workbench.fused import compile_for

            compile_for(self.model)  # the weights and state_dict keys are unchanged
        #: what length-bucketing sorts by: the longest sequence the method makes of an example
        self.lengths = [self.method.max_length(e) for e in self.data["train"]]
        self._window: tuple[tuple[int, int] | None, list[list[int]]] = (None, [])
        n = len(self.data["train"])
        self.steps_per_epoch = max(1, n // cfg.batch_size)
        self.total = cfg.steps or max(1, math.ceil(cfg.epochs * self.steps_per_epoch))
        self.stages = self.method.stages(self.total, self.steps_per_epoch)
        self.eval_every = cfg.eval_every or max(1, self.total // 10)
        self.ckpt_every = cfg.checkpoint_every or self.eval_every

    # -- set-up and resumption -------------------------------------------------------------------
    def prepare_run_dir(self) -> None:
        """Create the run directory, or check that it is this run's (the step to resume from
        comes from its latest checkpoint)."""
        cfg, out = self.cfg, self.out
        exists = (out / CONFIG).exists()
        # every rank must look before the main rank writes, or a slower rank would find the
        # fresh config.json and take the run for an existing one
        barrier(self.world)
        if exists and not cfg.resume:
            raise UserError("run directory already exists; pass --resume to continue it or "
                            "choose another --out", file=out)
        if cfg.resume and not exists:
            raise UserError("nothing to resume: no config.json", file=out)
        if exists:
            check_same_run(read_config(out), self.config, out)
        elif self.world.main:
            # what this invocation creates, so that a failure before the first checkpoint can
            # take it away again (see discard_unstarted) and the same command can be retried
            self.created = {"dir": not out.exists(),
                            "checkpoints": not (out / checkpoint.DIR).exists()}
            out.mkdir(parents=True, exist_ok=True)
            self.tok.save(out / TOKENIZER)
            atomic_write_json(out / CONFIG, self.config)
            atomic_write_text(out / LOG, "")
        barrier(self.world)

    def discard_unstarted(self) -> None:
        """After a failure before the first checkpoint: remove what :meth:`prepare_run_dir`
        created in this invocation (its files, its ``checkpoints/`` and the run directory if
        it made it and nothing else is left in it), so the same command can run again without
        ``--resume``. A run with a checkpoint is left alone: it is resumable. A directory that
        existed before is never removed, nor any file this invocation did not write."""
        created, out = self.created, self.out
        if created is None or (out / checkpoint.DIR / checkpoint.POINTER).exists():
            return
        for name in (CONFIG, TOKENIZER, LOG):
            with contextlib.suppress(OSError):  # best effort: never mask the failure itself
                (out / name).unlink()
        ckpts = out / checkpoint.DIR
        if created["checkpoints"] and ckpts.is_dir() and not ckpts.is_symlink():
            for sub in ckpts.iterdir():  # only checkpoints this run began to write
                if sub.name.startswith((".step-", "step-")) and sub.is_dir():
                    shutil.rmtree(sub, ignore_errors=True)
            with contextlib.suppress(OSError):
                ckpts.rmdir()
        if created["dir"]:
            with contextlib.suppress(OSError):  # not empty: something else was put there
                out.rmdir()
        self.created = None

    # -- the loop --------------------------------------------------------------------------------
    def run(self) -> dict[str, Any]:
        cfg, world, model = self.cfg, self.world, self.model
        self.prepare_run_dir()
        optimizer = make_optimizer(self.trainable, cfg)
        state: dict[str, Any] = {"elapsed_s": 0.0, "tokens": 0}
        start = 0
        ck = checkpoint.latest(self.out)
        if ck is not None:
            state = checkpoint.restore(ck, model, optimizer, self.method.module)
            start = int(state["step"])
            if world.main:
                truncate_log(self.out / LOG, start)
        # after restoring: DDP starts from rank 0's weights (every rank restored the same)
        self.step_loss = parallel(self.objective, world)
        if start >= self.total and (self.out / METRICS).exists():
            from workbench.artifacts import Metrics, read_dict

            return read_dict(self.out / METRICS, Metrics)
        model.train()
        last_good = start if ck is not None else None
        bar = tqdm(total=self.total, initial=start, desc=f"{cfg.method} on {cfg.task}",
                   unit="step", disable=cfg.quiet or not world.main)
        t_run, tokens_window, t_window = time.perf_counter(), 0, time.perf_counter()
        elapsed0 = float(state.get("elapsed_s", 0.0))
        loss_value = math.nan
        with Prefetch(self.prepare, start, self.total) as batches:
            for step in range(start, self.total):
                stage = stage_at(self.stages, step)
                if stage.reset and step == stage.start:
                    optimizer = make_optimizer(self.trainable, cfg)
                lr = learning_rate(cfg, self.stages, step, self.total)
                for group in optimizer.param_groups:
                    group["lr"] = lr
                loss_value, n_tokens = self.train_step(batches.get(step), optimizer)
                if not math.isfinite(loss_value):
                    bar.close()
                    where = (f"the last good checkpoint (step {last_good}) is kept in "
                             f"{self.out / checkpoint.DIR}" if last_good is not None
                             else "no checkpoint was written yet, so the run directory is "
                             "removed and the command can be run again")
                    raise UserError(f"loss became {loss_value} at step {step}; training stopped "
                                    f"and {where}; try a lower --lr")
                tokens_window += n_tokens
                state["tokens"] = int(state.get("tokens", 0)) + n_tokens
                done = step + 1
                bar.update(1)
                if done % cfg.log_every == 0 or done == self.total:
                    now = time.perf_counter()
                    rate = tokens_window / max(now - t_window, 1e-9)
                    tokens_window, t_window = 0, now
                    bar.set_postfix(loss=f"{loss_value:.3f}", stage=stage.index,
                                    tok_s=f"{rate:.0f}")
                    self.log({"step": done, "stage": stage.index, "loss": loss_value, "lr": lr,
                              "tokens_per_s": rate,
                              "elapsed_s": elapsed0 + now - t_run})
                at_stage_end = done == stage.end
                if done % self.eval_every == 0 or done == self.total or at_stage_end:
                    if world.main and done < self.total:
                        acc = self.validate()
                        self.log({"step": done, "stage": stage.index, "valid_accuracy": acc,
                                  "elapsed_s": elapsed0 + time.perf_counter() - t_run})
                        bar.set_postfix(loss=f"{loss_value:.3f}", stage=stage.index,
                                        val=f"{acc:.2f}")
                if done % self.ckpt_every == 0 or at_stage_end or done == self.total:
                    state["elapsed_s"] = elapsed0 + time.perf_counter() - t_run
                    state["stage"] = stage.index
                    if world.main:
                        checkpoint.save(self.out, done, model, optimizer, state,
                                        self.method.module)
                    last_good = done
                    barrier(world)
        bar.close()
        train_seconds = elapsed0 + time.perf_counter() - t_run
        metrics: dict[str, Any] = {}
        if world.main:
            metrics = self.finish(train_seconds, int(state.get("tokens", 0)), loss_value)
        barrier(world)
        teardown(world)
        return metrics

    def prepare(self, step: int) -> Batch:
        """Step ``step``'s batch, encoded and collated: a function of the step alone, so the
        prefetching worker may build it ahead of time."""
        cfg = self.cfg
        stage = stage_at(self.stages, step)
        ids, examples = self.batch_examples(step)
        items = [self.method.encode(ex, stage, step, random.Random(f"mix/{cfg.seed}/{step}/{i}"))
                 for i, ex in zip(ids, examples)]
        return self.method.collate(items, cfg.device)

    def batch_loss(self, batch: Batch) -> torch.Tensor:
        """This rank's share of the batch's loss: its examples' sum over the global batch
        size (the shares add up to the loss of the whole batch)."""
        return self.method.loss_sum(self.model, batch) / self.cfg.batch_size

    def train_step(self, batch: Batch, optimizer: torch.optim.Optimizer) -> tuple[float, int]:
        cfg, world = self.cfg, self.world
        loss = self.step_loss(batch)
        loss.backward()  # under torchrun, DDP has summed the gradients when this returns
        if cfg.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(self.trainable.parameters(), cfg.grad_clip)
        loss_value = sum_scalar(float(loss.detach()), world)
        if math.isfinite(loss_value):
            optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        n_tokens = int(sum_scalar(float(batch.layout.real.sum()), world))
        return loss_value, n_tokens

    def batch_examples(self, step: int) -> tuple[list[int], list[Tokenized]]:
        """This rank's share of step ``step``'s batch: the next slice of the epoch's order of the
        fixed train set, or (``--fresh``) a batch drawn for this step from the generator."""
        cfg, world = self.cfg, self.world
        if cfg.fresh:
            drawn = tokenize_split(fresh_examples(cfg, step, cfg.batch_size), self.tok,
                                   f"fresh batch of step {step}")
            ids = list(range(cfg.batch_size))[world.rank::world.size]
            for i in ids:  # a draw longer than the context (rare: n_ctx has slack) is refused
                if self.method.max_length(drawn[i]) > self.n_ctx:
                    raise UserError(f"a fresh example of step {step} needs "
                                    f"{self.method.max_length(drawn[i])} positions but n_ctx is "
                                    f"{self.n_ctx}; pass a larger --n-ctx", field="n_ctx")
            return ids, [drawn[i] for i in ids]
        epoch, offset = divmod(step, self.steps_per_epoch)
        order = epoch_order(len(self.data["train"]), cfg.seed, epoch)
        if cfg.bucket:
            window, at = divmod(offset, cfg.bucket)
            span = cfg.bucket * cfg.batch_size
            # the window never reaches past the epoch's last full batch
            end = min((window + 1) * span, self.steps_per_epoch * cfg.batch_size)
            key = (epoch, window)
            if self._window[0] != key:  # the window's batches, kept while its steps run
                self._window = (key, bucketed_window(
                    order[window * span:end], self.lengths, cfg.batch_size,
                    random.Random(f"bucket/{cfg.seed}/{epoch}/{window}")))
            batch = self._window[1][at]
        else:
            batch = list(order[offset * cfg.batch_size:(offset + 1) * cfg.batch_size])
        ids = batch[world.rank::world.size]
        return ids, [self.data["train"][i] for i in ids]

    def validate(self) -> float:
        subset = self.data["valid"][: self.cfg.eval_examples]
        result = evaluate(self.method, self.model, subset, latency_examples=0)
        self.model.train()
        return float(result["accuracy"])

    def log(self, record: dict[str, Any]) -> None:
        if self.world.main:
            append_jsonl(self.out / LOG, record)

    def finish(self, seconds: float, tokens: int, final_loss: float) -> dict[str, Any]:
        """Final weights, evaluation on valid and test, metrics.json, manifest.json."""
        save_weights(self.model, self.out / WEIGHTS)
        if self.method.module is not None:
            save_weights(self.method.module, self.out / METHOD_WEIGHTS)
        n_eval = self.cfg.n_eval
        metrics: dict[str, Any] = {
            "parameters": count_parameters(self.trainable),
            "train": {"steps": self.total, "seconds": seconds, "tokens": tokens,
                      "tokens_per_s": tokens / max(seconds, 1e-9), "final_loss": final_loss,
                      "steps_per_epoch": self.steps_per_epoch,
                      "stages": [asdict(s) for s in self.stages]},
        }
        for split in ("valid", "test"):
            examples = self.data[split][:n_eval] if n_eval else self.data[split]
            metrics[split] = evaluate(self.method, self.model, examples, quiet=self.cfg.quiet,
                                      latency_examples=self.cfg.latency_examples)
        atomic_write_json(self.out / METRICS, metrics)
        save_controls([t.example for t in self.data["test"]], self.out / CONTROLS)
        write_manifest(self.out)
        return metrics


def train(cfg: TrainConfig, method_options: dict[str, Any] | None = None) -> dict[str, Any]:
    """Train (or resume) the run ``cfg.out``; returns its metrics. One writer per run: a second
    process training into the same directory is refused."""
    trainer = Trainer(cfg, method_options)
    if not trainer.world.main:
        return trainer.run()
    with exclusive(cfg.out, "training"):
        try:
            return trainer.run()
        except BaseException:  # an error, a NaN loss, SIGINT or SIGTERM
            trainer.discard_unstarted()
            raise
