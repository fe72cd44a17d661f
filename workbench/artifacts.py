"""Schemas of every file the workbench reads, and the one place each is read.

Each artifact has a pydantic schema built on :mod:`workbench.schemas`; :func:`read` opens a file
(size, encoding and JSON nesting bounded), validates it and returns the typed object, or raises
one :class:`~workbench.errors.UserError` naming the file, the line and the field. Code past this
boundary receives valid values: a model instance, or the file's own dict once it has been
checked (:func:`read_dict`), so that older code indexing ``config["model"]`` keeps working.

=====================  ============================  ========================================
artifact               schema                        read by
=====================  ============================  ========================================
run ``config.json``    :class:`RunConfig`            :func:`workbench.runs.read_config`
run ``manifest.json``  :class:`RunManifest`          :func:`workbench.runs.load_run`
``metrics.json``       :class:`Metrics`              runs, compare, the app, ``lwb results``
``log.jsonl``          :class:`LogRecord` per line   :func:`read_log`
``tokenizer.json``     :class:`TokenizerFile`        :meth:`workbench.tokenizer.Tokenizer.load`
``controls.json``      :data:`Controls`              ``lwb results``
``checkpoints/latest.json``  :class:`CheckpointPointer`  :func:`train.checkpoint.latest`
store ``manifest.json``  :class:`StoreManifest`      :func:`workbench.store.open_store`
analyses/*.json        :data:`ANALYSES`              the app, ``lwb results``
``run.json``           :class:`RunIdentity`          ``lwb results``
benchmark JSON         :data:`Benchmark`             ``lwb results --bench``
=====================  ============================  ========================================

Files written before statistics had an ``undefined`` reason may hold ``NaN``: analysis outputs,
metrics and logs are read with ``NaN`` as ``None`` (undefined); every other file refuses it.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field, RootModel, model_validator

from workbench.analysis_schemas import (
    Alignment,
    Compare,
    Correctness,
    Frontier,
    Interval,
    Interventions,
    Lens,
    Probes,
    Projections,
    RunIdentity,
)
from workbench.errors import UserError
from workbench.schemas import (
    MAX_JSON_BYTES,
    FiniteFloat,
    Fraction,
    NonNegativeFloat,
    NonNegativeInt,
    Schema,
    loads,
    parse,
    read_text,
)

# -- bounds ------------------------------------------------------------------------------------
#: Largest context, width, depth and vocabulary a run's model config may ask for (far above any
#: model of this project; a value past them is a typo or a hostile file, not a model).
MAX_CTX = 1 << 16
MAX_WIDTH = 1 << 16
MAX_LAYERS = 1024
MAX_HEADS = 1024
MAX_VOCAB = 1 << 22
#: Torch dtypes a config or a store may name.
DTYPES = ("float32", "float16", "bfloat16", "float64")

RUN_FORMAT = "latent-workbench/run"
STORE_FORMAT = "latent-workbench/trajectory-store"
TOKENIZER_FORMAT = "latent-workbench/tokenizer"


def _bounded(low: int, high: int) -> Any:
    return Annotated[int, Field(ge=low, le=high)]


def _plain_name(name: str) -> str:
    """A file or directory name inside its parent: no separators, no ``..``, not hidden-empty."""
    if not name or name in (".", "..") or "/" in name or "\\" in name or "\x00" in name:
        raise ValueError("must be a plain file name inside the run (no '/', no '..')")
    return name


def _sha256(text: str) -> str:
    if not re.fullmatch(r"[0-9a-f]{64}", text):
        raise ValueError("must be a sha256 digest (64 hex digits)")
    return text


PlainName = Annotated[str, AfterValidator(_plain_name)]
Sha256 = Annotated[str, AfterValidator(_sha256)]
Size = _bounded(1, MAX_WIDTH)


# -- runs --------------------------------------------------------------------------------------
class ModelConfig(Schema):
    """``config.json``'s ``model``: ``HookedTransformerConfig`` keyword arguments."""

    n_layers: _bounded(1, MAX_LAYERS)
    d_model: Size
    n_heads: _bounded(1, MAX_HEADS) = 1
    d_head: Size | None = None
    d_mlp: Size | None = None
    d_vocab: _bounded(1, MAX_VOCAB)
    n_ctx: _bounded(1, MAX_CTX)
    act_fn: str | None = None
    normalization_type: Literal["LN", "LNPre", "RMS", "RMSPre"] | None = None
    positional_embedding_type: Literal["standard", "rotary", "shortformer", "alibi"] = "standard"
    seed: int | None = None
    dtype: Literal[DTYPES] | None = None  # type: ignore[valid-type]


class DataFile(Schema):
    """A data file a run was trained on: its resolved path and the sha256 of its contents."""

    path: str
    sha256: Sha256


class TaskSection(Schema):
    name: str
    preset: str | None = None
    data_seed: int | None = None
    sizes: dict[str, NonNegativeInt] | None = None
    #: per split: ``None`` (generated), a :class:`DataFile`, or (runs written before data
    #: checksums) the path as it was given
    files: dict[str, DataFile | str | None] | None = None


class InitSection(Schema):
    """``config.json``'s ``init``: the run whose weights a run started from (``--init-from``)."""

    run: str
    method: str | None = None
    weights_sha256: Sha256


class MethodSection(Schema):
    name: str


class TrainSection(Schema):
    """``config.json``'s ``train``: the fields read outside training (the trainer validates
    the whole section itself)."""

    task: str | None = None
    preset: str | None = None
    method: str | None = None
    size: str | None = None
    seed: int | None = None
    lr: FiniteFloat | str | None = None  # a hand-edited snapshot may say "1e-3?"


class RunConfig(Schema):
    """A run's ``config.json``: the model's shape, the task, the method and training."""

    model: ModelConfig
    task: TaskSection
    method: MethodSection
    train: TrainSection
    init: InitSection | None = None


class ConfigSummary(Schema):
    """What tables of runs read from a ``config.json`` (a results snapshot may carry its model
    section only in part); loading a model checks the whole :class:`RunConfig`."""

    model: dict[str, Any] = {}
    task: TaskSection
    method: MethodSection
    train: TrainSection


class ConfigTrain(Schema):
    """A ``config.json`` read only for its ``train`` section (which model analyses describe)."""

    train: TrainSection


class RunManifest(Schema):
    """A run's ``manifest.json``: the sha256 of each artifact (file names inside the run)."""

    format: Literal[RUN_FORMAT]  # type: ignore[valid-type]
    version: _bounded(1, 1000)
    sha256: dict[PlainName, Sha256]


class DepthMetrics(Schema):
    n: NonNegativeInt
    accuracy: Fraction | None = None


class SplitMetrics(Schema):
    """One split's evaluation in ``metrics.json``."""

    n: NonNegativeInt | None = None
    accuracy: Fraction | None = None
    any_block_accuracy: Fraction | None = None
    block_accuracy: list[Fraction | None] | None = None
    majority_baseline: Fraction | None = None
    mean_generated_tokens: NonNegativeFloat | None = None
    mean_latent_steps: NonNegativeFloat | None = None
    ttft_ms: NonNegativeFloat | None = None
    latency_ms: NonNegativeFloat | None = None
    ttft_ms_batched: NonNegativeFloat | None = None
    latency_ms_batched: NonNegativeFloat | None = None
    by_depth: dict[str, DepthMetrics] | None = None


class TrainMetrics(Schema):
    steps: NonNegativeInt | None = None
    seconds: NonNegativeFloat | None = None
    tokens: NonNegativeInt | None = None
    tokens_per_s: NonNegativeFloat | None = None
    final_loss: FiniteFloat | None = None


class Metrics(Schema):
    """A run's ``metrics.json`` (every section optional: an unfinished run has ``{}``)."""

    parameters: NonNegativeInt | None = None
    train: TrainMetrics | None = None
    valid: SplitMetrics | None = None
    test: SplitMetrics | None = None


class LogRecord(Schema):
    """One line of ``log.jsonl``."""

    step: NonNegativeInt
    stage: int | None = None
    loss: FiniteFloat | None = None
    lr: FiniteFloat | None = None
    elapsed_s: NonNegativeFloat | None = None
    valid_accuracy: Fraction | None = None


class TokenizerFile(Schema):
    """``tokenizer.json`` (its order and special tokens are checked by the tokenizer)."""

    format: Literal[TOKENIZER_FORMAT] | None = None  # type: ignore[valid-type]
    version: int | None = None
    name: str = ""
    vocab: Annotated[list[str], Field(min_length=1, max_length=MAX_VOCAB)]


class BPETokenizerFile(Schema):
    """An imported model's ``tokenizer.json`` (:mod:`workbench.bpe`): the Hugging Face
    tokenizer definition and the roles its tokens play."""

    format: Literal[TOKENIZER_FORMAT]  # type: ignore[valid-type]
    version: Literal[2]
    kind: Literal["bpe"]
    name: str = ""
    roles: dict[str, str] = {}
    template: dict[str, bool | str] = {"bos": False}
    hf: dict[str, Any]


class CheckpointPointer(Schema):
    """``checkpoints/latest.json``: which checkpoint directory is the latest."""

    step: NonNegativeInt | None = None
    dir: PlainName


class TrainState(Schema):
    """``checkpoints/step-N/state.json``: where a checkpointed run stands."""

    step: NonNegativeInt
    elapsed_s: NonNegativeFloat = 0.0
    tokens: NonNegativeInt = 0
    stage: NonNegativeInt | None = None


class ZooEntry(Schema):
    task: str
    preset: str
    method: str
    size: str
    seed: int
    command: str


class ZooManifest(Schema):
    """``zoo/MANIFEST.json``: the sha256 of every zoo file (``<run>/<file>``) and, per run, what
    it is and the command that reproduces it."""

    sha256: dict[str, Sha256]
    runs: dict[PlainName, ZooEntry] = {}

    @model_validator(mode="after")
    def _relative_paths(self) -> ZooManifest:
        for rel in self.sha256:
            parts = rel.split("/")
            if len(parts) != 2 or any(not x or x in (".", "..") for x in parts):
                raise ValueError(f"sha256 key {rel!r} is not <run>/<file>")
        return self


class Lineage(Schema):
    """``zoo/<run>/lineage.json``: the runs a zoo run was initialised from, oldest first."""

    runs: list[dict[str, Any]]


class ControlResult(Schema):
    accuracy: Fraction | None = None
    ci: Interval | None = None
    chance: Fraction | None = None
    """None where the control was skipped (``skipped`` says why)."""
    n: NonNegativeInt
    folds: int | None = None
    target: str = ""
    what: str = ""
    skipped: str = ""


Controls = dict[str, ControlResult]
"""``controls.json``: one result per shortcut control."""


# -- trajectory stores -------------------------------------------------------------------------
class StoreRows(Schema):
    steps: NonNegativeInt | None = None
    examples: NonNegativeInt | None = None


class StoreManifest(Schema):
    """A trajectory store's ``manifest.json`` (its agreement with the data is checked by
    :func:`check_store_shape` once the data is open)."""

    format: Literal[STORE_FORMAT]  # type: ignore[valid-type]
    version: _bounded(1, 1000) = 1
    dtype: Literal[DTYPES] = "float16"  # type: ignore[valid-type]
    n_layers: _bounded(0, MAX_LAYERS)
    d_model: Size
    label_columns: list[str] = []
    kinds: list[str] = []
    hooks: list[str] = []
    per_token: bool = False
    rows: StoreRows = StoreRows()
    checkpoint_sha256: Sha256 | None = None
    run: str | None = None
    dataset: str | None = None
    task: str | None = None
    method: str | None = None


def check_store_shape(manifest: StoreManifest, columns: list[str], resid_shape: Any,
                      file: str | Path) -> None:
    """The store's data must have the shape its manifest declares: ``resid`` of
    ``[n_layers + 1, d_model]`` and every label column present."""
    want = (manifest.n_layers + 1, manifest.d_model)
    if resid_shape is None or tuple(resid_shape)[-2:] != want:
        shape = "absent" if resid_shape is None else list(resid_shape)
        field = ("d_model" if resid_shape is not None and len(tuple(resid_shape)) >= 2
                 and tuple(resid_shape)[-2] == want[0] else "n_layers")
        raise UserError(f"disagrees with the data: steps' resid is {shape}, the manifest says "
                        f"[n_layers + 1, d_model] = {list(want)}", file=file, field=field)
    missing = [c for c in manifest.label_columns if c not in columns]
    if missing:
        raise UserError(f"names columns the data lacks: {missing[:3]}", file=file,
                        field="label_columns")


# -- analysis outputs (their schemas: workbench/analysis_schemas.py) ----------------------------
Proof = list[dict[str, Any]]
"""An example's proof (a store's ``examples.proof`` column, JSON text): one record per step."""

Benchmark = dict[str, Any]
"""A ``benchmarks/`` script's JSON object (its ``checks`` map names to booleans)."""

#: Analysis output file → its schema.
ANALYSES: dict[str, Any] = {
    "probes.json": Probes, "alignment.json": Alignment, "correctness.json": Correctness,
    "interventions.json": Interventions, "projections.json": Projections, "lens.json": Lens,
    "compare.json": Compare, "run.json": RunIdentity, "frontier.json": Frontier,
}
#: Files that may hold ``NaN`` from writers older than the ``undefined`` reasons.
LEGACY_NAN = {"metrics.json", "log.jsonl", *ANALYSES}


# -- reading -----------------------------------------------------------------------------------
def read(path: str | Path, schema: Any = Any, *, missing: str = "missing",
         max_bytes: int = MAX_JSON_BYTES) -> Any:
    """The JSON file ``path`` validated against ``schema``; every failure (absent, a directory,
    too large, not UTF-8, invalid or too deeply nested JSON, a wrong field) is one UserError
    naming the file, line and field. ``NaN`` reads as ``None`` in :data:`LEGACY_NAN` files."""
    path = Path(path)
    text = read_text(path, missing, max_bytes)
    value = loads(text, file=path, nan_as_none=path.name in LEGACY_NAN)
    if schema is Any:
        return value
    out = parse(schema, value, file=path)
    return out.root if isinstance(out, RootModel) else out


def read_dict(path: str | Path, schema: Any, *, missing: str = "missing") -> dict[str, Any]:
    """The file's own JSON object once ``schema`` accepts it (keys as written, nothing added)."""
    path = Path(path)
    value = loads(read_text(path, missing), file=path, nan_as_none=path.name in LEGACY_NAN)
    parse(schema, value, file=path)
    return value


def read_analysis(path: str | Path, *, missing: str = "missing") -> Any:
    """An analysis output (``probes.json`` …) as plain JSON values once its schema (by file
    name, :data:`ANALYSES`) accepts it; other names are read unchecked but bounded."""
    path = Path(path)
    schema = ANALYSES.get(path.name, Any)
    value = loads(read_text(path, missing), file=path, nan_as_none=True)
    if schema is not Any:
        parse(schema, value, file=path)
    return value


def read_log(path: str | Path) -> list[LogRecord]:
    """``log.jsonl``: one :class:`LogRecord` per line; a torn last line (a killed writer) is
    skipped, a bad line elsewhere is a UserError naming its line."""
    path = Path(path)
    lines = read_text(path).splitlines()
    out = []
    for i, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            value = loads(line, file=path, line=i, nan_as_none=True)
        except UserError:
            if i == len(lines):
                break
            raise
        out.append(parse(LogRecord, value, file=path, line=i))
    return out
