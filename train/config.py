"""The training config: the ``lwb train`` flags and the ``train`` section of a run's config."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from workbench.config import Checked
from workbench.methods import default_method
from workbench.schemas import (
    ContextLength,
    Count,
    Count0,
    Fraction,
    NonNegativeFloat,
    PositiveFloat,
    Seed,
    Threads,
)


@dataclass
class TrainConfig(Checked):
    """What to train, on what, for how long."""

    task: str = "chain"
    """Task whose generated splits are trained on (see `lwb data`)."""
    preset: str = "demo"
    """Task preset: tiny, demo, paper or one of the task's own (reach: trees, padded)."""
    method: str = field(default_factory=default_method)
    """Method: nocot, cot, pause, coconut or rim."""
    size: str = "micro"
    """Model preset: nano, micro, micro-h2, micro-h1, mini or small (see `lwb models`)."""
    out: str = ""
    """Run directory to create (or to resume with --resume)."""
    seed: Seed = 0
    """Seed of the model's initialisation, data order and curriculum sampling."""
    data_seed: Seed = 0
    """Seed of the generated data (kept apart so model seeds share one dataset)."""
    train_data: str | None = None
    """Train on this file instead of generated data (any format `lwb data` reads)."""
    valid_data: str | None = None
    """Validation file (default: generated valid split)."""
    test_data: str | None = None
    """Test file (default: generated test split)."""
    n_train: Count | None = None
    """Use only the first N training examples (default: all)."""
    fresh: bool = False
    """Draw a fresh batch from the task's generator at every step instead of cycling a fixed
    train set (generated tasks only; deterministic in data_seed and step, so --resume reproduces
    the uninterrupted run; test and valid questions can never be drawn)."""
    depth_warmup: Count0 = 0
    """With --fresh: over the first N steps the deepest depth drawn rises from the preset's
    min_depth to its max_depth (uniform over the depths open at each step); 0: every depth from
    the start. Needs a task whose config has min_depth and max_depth."""
    n_eval: Count | None = None
    """Evaluate on at most N validation and test examples at the end (default: all)."""
    n_ctx: ContextLength | None = None
    """Model context length (default: the longest sequence of the data, plus 8)."""
    init_from: str | None = None
    """Start from the final weights of this finished run instead of a fresh initialisation (same
    --size and tokenizer; a longer context keeps fresh embeddings for the positions the source
    never had); its checksum is recorded, and --steps count from here."""
    steps: Count | None = None
    """Optimizer steps (overrides --epochs)."""
    epochs: PositiveFloat = 8.0
    """Passes over the training data (when --steps is not given)."""
    batch_size: Count = 16
    """Global batch size (split across data-parallel workers)."""
    bucket: Count0 = 16
    """Batches per length bucket: each epoch's shuffled order is cut into windows of N batches,
    each window sorted by sequence length and cut into batches taken in shuffled order, so a
    batch pads little (0: batches straight from the shuffled order). Fresh batches (--fresh)
    are drawn per step and not bucketed."""
    lr: PositiveFloat = 2e-3
    """Peak learning rate (AdamW)."""
    min_lr_ratio: Fraction = 0.1
    """The cosine schedule decays to lr · min_lr_ratio."""
    warmup_steps: Count0 = 50
    """Linear warm-up steps at the start of each schedule (a stage reset restarts it)."""
    weight_decay: NonNegativeFloat = 0.01
    """AdamW weight decay."""
    grad_clip: NonNegativeFloat = 1.0
    """Clip the gradient norm to this (0: no clipping)."""
    eval_every: Count0 = 0
    """Validate every N steps (0: about ten times per run)."""
    eval_examples: Count = 128
    """Validation examples used at each periodic validation."""
    latency_examples: Count0 = 16
    """Examples timed one at a time (batch 1) in the final evaluation."""
    checkpoint_every: Count0 = 0
    """Checkpoint every N steps (0: at each validation); a run is always resumable."""
    log_every: Count = 10
    """Log loss, learning rate and throughput every N steps."""
    device: str = "cpu"
    """cpu or cuda."""
    compile: bool = False
    """torch.compile the fused training forward (slower than eager on a 2-core CPU, see
    docs/performance.md; may pay elsewhere)."""
    threads: Threads | None = None
    """torch CPU threads (default: torch's choice)."""
    quiet: bool = False
    """No progress bar."""
    resume: bool = False
    """Continue the run in --out from its last checkpoint."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


#: How a run is executed, not what it trains: they may differ between a run and its resumption,
#: and the command that reproduces a run leaves them out.
RESUMABLE_FIELDS = {"resume", "quiet", "threads", "device", "compile"}
#: Settings added after runs were recorded without them, with the value such a run trained
#: with: resuming or reproducing an older run uses these.
LEGACY_DEFAULTS: dict[str, Any] = {"bucket": 0}


def recorded(train: dict[str, Any]) -> dict[str, Any]:
    """A run's recorded ``train`` section, with :data:`LEGACY_DEFAULTS` for what it lacks."""
    return {**train, **{k: v for k, v in LEGACY_DEFAULTS.items() if k not in train}}


#: Paths a resumed run compares by what they name, never by how they are spelled: the data files
#: by the sha256 recorded in ``config["task"]["files"]``, ``init_from`` by the sha256 of the
#: weights recorded in ``config["init"]``, and ``out`` not at all (the run resumed is, by
#: definition, the directory ``--out`` names: ``base``, ``./base``, an absolute path, a symlink
#: or a moved run directory are all the same run).
PATH_FIELDS = {"out", "init_from", "train_data", "valid_data", "test_data"}
#: Not part of what a run is (the zoo's reproducing command, a retrain's identity): how it is
#: executed, and where its files lie (``init_from`` stays: a zoo run's lineage names it).
NOT_RECORDED = RESUMABLE_FIELDS | (PATH_FIELDS - {"init_from"})
