"""``lwb``: the command line. Each subcommand mirrors a config dataclass or a library function.

User errors print one line (``lwb: error: file:line: field 'x': …``) and exit with status 2.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from workbench import __version__
from workbench.config import add_arguments, from_namespace
from workbench.errors import EXIT_USER_ERROR, UserError
from workbench.schemas import ContextLength, Count, Count0, Port, PositiveFloat, flag


class Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line and exit status 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        sys.stderr.write(f"{self.prog}: error: {message} (see '{self.prog} --help')\n")
        sys.exit(EXIT_USER_ERROR)


def _cmd_generate(args: argparse.Namespace) -> int:
    from workbench.tasks.generate import GenerateConfig, generate_file

    cfg = from_namespace(GenerateConfig, args)
    path, n = generate_file(cfg, quiet=args.quiet)
    print(f"wrote {n} examples to {path}")
    return 0


def _load(args: argparse.Namespace, *, check_vocab: bool = False):
    from workbench.tasks.loaders import load_file

    return load_file(args.file, task=args.task, check_vocab=check_vocab)


def _cmd_inspect(args: argparse.Namespace) -> int:
    from workbench.tasks.controls import format_controls, shortcut_controls
    from workbench.tasks.summary import summarize
    from workbench.text import key_value_table

    examples = _load(args).examples
    rows = summarize(examples)
    controls = None if args.no_controls else shortcut_controls(examples)
    if args.json:
        print(json.dumps(rows if controls is None else {**rows, "controls": controls}, indent=2))
    else:
        print(key_value_table(rows, title=str(args.file)))
        if controls is not None:
            print("\n" + format_controls(controls))
    return 0


def _cmd_validate(args: argparse.Namespace) -> int:
    loaded = _load(args, check_vocab=True)
    tasks = sorted({e["task"] for e in loaded.examples})
    print(f"{args.file}: {len(loaded.examples)} examples valid ({', '.join(tasks)}; "
          f"{loaded.format}), {loaded.derived_proofs} proofs derived")
    return 0


def _cmd_convert(args: argparse.Namespace) -> int:
    from workbench.tasks.loaders import write_icot, write_jsonl

    examples = _load(args, check_vocab=True).examples
    writer = write_icot if args.format == "icot" else write_jsonl
    n = writer(args.out, examples, inputs={"file": args.file})
    print(f"wrote {n} examples to {args.out}")
    return 0


def _cmd_models(args: argparse.Namespace) -> int:
    from workbench.models import PRESETS, build_model, count_parameters, model_config
    from workbench.tasks import task_tokenizer

    d_vocab = len(task_tokenizer(args.task))
    print(f"model presets (d_vocab={d_vocab} for {args.task}, n_ctx={args.n_ctx})")
    print(f"  {'name':6} {'layers':>6} {'d_model':>7} {'heads':>5} {'d_mlp':>6} {'params':>11}")
    for name, p in PRESETS.items():
        n = count_parameters(build_model(model_config(name, d_vocab, args.n_ctx)))
        print(f"  {name:6} {p.n_layers:>6} {p.d_model:>7} {p.n_heads:>5} {p.d_mlp:>6} {n:>11,}")
    return 0


def _add_train_arguments(p: Parser) -> None:
    from dataclasses import fields

    from train.config import TrainConfig
    from workbench.methods import METHODS

    add_arguments(p, TrainConfig)
    # each option belongs to its method: an option several methods have (reset_optimizer) is
    # one flag without a default of its own, so each method keeps its own default
    seen: set[str] = set()
    for name, cls in METHODS.items():
        todo = [f for f in fields(cls.Options) if f.name not in seen]
        if not todo:
            continue
        group = p.add_argument_group(f"{name} options")
        add_arguments(group, cls.Options, skip=tuple(seen), unset=True)
        seen.update(f.name for f in todo)
    for action in p._actions:  # a shared option's help names each method's default
        owners = [(n, f.default) for n, c in METHODS.items() for f in fields(c.Options)
                  if f.name == action.dest]
        if len(owners) > 1 and action.help:
            per = "; ".join(f"{n} {d}" for n, d in owners)
            action.help = action.help.split(" (default:")[0] + f" (default: {per})"


def _cmd_train(args: argparse.Namespace) -> int:
    from dataclasses import fields

    from train.config import TrainConfig
    from train.loop import train
    from workbench.methods import method_class

    cfg = from_namespace(TrainConfig, args)
    cls = method_class(cfg.method)
    options = {f.name: getattr(args, f.name) for f in fields(cls.Options) if hasattr(args, f.name)}
    metrics = train(cfg, options)
    if metrics:
        _print_metrics(cfg.out, metrics)
    return 0


def _print_metrics(run: str, metrics: dict) -> None:
    test = metrics.get("test", {})
    parts = [f"{k}={test[k]:.3f}" if isinstance(test.get(k), float) else f"{k}={test.get(k)}"
             for k in ("accuracy", "any_block_accuracy", "mean_generated_tokens", "ttft_ms")
             if k in test]
    print(f"{run}: test " + " ".join(parts))


def _cmd_eval(args: argparse.Namespace) -> int:
    from workbench.inference import evaluate
    from workbench.io import atomic_write_json
    from workbench.methods import open_run_with_data
    from workbench.safety import check_output_file

    if args.out:  # before any work: --out never replaces the data, a run's file or a directory
        check_output_file(args.out, {"run": args.run, "data": args.data})
    run, method, tokenized = open_run_with_data(args.run, args.data, limit=args.limit,
                                                device=args.device)
    result = evaluate(method, run.model, tokenized, batch_size=args.batch_size,
                      latency_examples=args.latency_examples, quiet=args.quiet,
                      keep_predictions=args.predictions)
    result = {"run": str(args.run), "data": str(args.data), "method": method.name, **result}
    rows = {k: v for k, v in result.items() if k != "predictions"}
    from workbench.text import key_value_table

    print(key_value_table(rows, title=f"{args.run} on {args.data}"))
    if args.out:
        atomic_write_json(args.out, result)
    return 0


def _cmd_compare(args: argparse.Namespace) -> int:
    from analyses.compare import compare_runs, format_compare

    rows = compare_runs(args.runs, split=args.split)
    print(json.dumps(rows, indent=2) if args.json else format_compare(rows))
    return 0


def _cmd_capture(args: argparse.Namespace) -> int:
    from workbench.capture import CaptureConfig, capture

    manifest = capture(from_namespace(CaptureConfig, args))
    print(f"wrote {manifest['rows']['steps']} latent-step rows of "
          f"{manifest['rows']['examples']} examples to {args.out} "
          f"({manifest['examples_per_s']:.1f} examples/s)")
    return 0


#: ``lwb analyze <kind>``: module and config class of each analysis.
ANALYSES = {
    "probes": ("analyses.probes", "ProbeConfig",
               "linear probes over layer × latent step for a label"),
    "alignment": ("analyses.alignment", "AlignmentConfig",
                  "latent step × proof step probes and the diagonality score"),
    "correctness": ("analyses.correctness", "CorrectnessConfig",
                    "RiM: predict each readout's correctness from its block"),
    "projections": ("analyses.projections", "ProjectionsConfig",
                    "PCA/UMAP of latent states (cached), trajectories, block-specificity"),
    "lens": ("analyses.lens", "LensConfig",
             "logit lens of every latent step and layer; graph tasks' BFS frontier"),
    "interventions": ("analyses.interventions", "InterventionConfig",
                      "zero / mean / noise / swap each latent step during inference"),
    "compare": ("analyses.compare", "CompareConfig",
                "efficiency and scaling across finished runs"),
}


def _cmd_analyze(args: argparse.Namespace) -> int:
    import importlib

    module_name, config_name, _ = ANALYSES[args.analysis]
    module = importlib.import_module(module_name)
    cfg = from_namespace(getattr(module, config_name), args)
    if not cfg.out:
        raise UserError("--out is required (the directory for the results)", field="out")
    module.run(cfg)
    print(f"wrote {args.analysis} results to {cfg.out}")
    return 0


def _configure_analyze(p: Parser, argv: Sequence[str]) -> None:
    """Subcommands per analysis; only the chosen one's module is imported (they are heavy)."""
    import dataclasses
    import importlib

    asub = p.add_subparsers(title="analyses", metavar="ANALYSIS", parser_class=Parser)
    words = [a for a in argv if not a.startswith("-")]
    chosen = words[1] if len(words) > 1 else None
    for name, (module_name, config_name, help_text) in ANALYSES.items():
        q = asub.add_parser(name, help=help_text)
        if name != chosen:
            continue
        cls = getattr(importlib.import_module(module_name), config_name)
        names = {f.name for f in dataclasses.fields(cls)}
        positional = "store" if "store" in names else ("runs" if "runs" in names else None)
        if positional == "store":
            q.add_argument("store", help="trajectory store directory")
        elif positional == "runs":
            q.add_argument("runs", nargs="+", help="run directories")
        add_arguments(q, cls, skip=(positional,) if positional else ())
        q.set_defaults(func=_cmd_analyze, analysis=name)


def _cmd_results(args: argparse.Namespace) -> int:
    from lwb.results import results

    results(args.runs, args.out, args.notes, args.bench, args.analyses)
    print(f"wrote {args.out}")
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from lwb.demo import DemoConfig, run_demo

    run_demo(from_namespace(DemoConfig, args))
    return 0


def _configure_data(p: Parser, argv: Sequence[str]) -> None:
    from workbench.tasks import TASKS
    from workbench.tasks.generate import GenerateConfig
    from workbench.tasks.loaders import FORMATS

    p.set_defaults(func=lambda a: (p.print_help(), 0)[1])
    dsub = p.add_subparsers(title="data commands", metavar="COMMAND", parser_class=Parser)
    q = dsub.add_parser("generate", help="generate a split of a task as JSONL")
    add_arguments(q, GenerateConfig)
    q.add_argument("--quiet", action="store_true", help="no progress bar")
    q.set_defaults(func=_cmd_generate)

    def file_command(name: str, help: str, func) -> Parser:
        q = dsub.add_parser(name, help=help)
        q.add_argument("file", type=Path, help="JSONL, Coconut JSON array, or iCoT text file")
        q.add_argument("--task", choices=[*TASKS, "gsm"], default=None,
                       help="task of the examples (default: the 'task' field, else inferred)")
        q.set_defaults(func=func)
        return q

    q = file_command("inspect", "print counts, task statistics and shortcut controls of a "
                     "dataset file", _cmd_inspect)
    q.add_argument("--json", action="store_true", help="print JSON")
    q.add_argument("--no-controls", action="store_true",
                   help="skip the shortcut controls (held-out classifiers; a few seconds)")
    file_command("validate", "check every example, its proof and its tokens", _cmd_validate)
    q = file_command("convert", "load (deriving proofs) and write as JSONL or iCoT text",
                     _cmd_convert)
    q.add_argument("--out", type=Path, required=True, help="output file")
    q.add_argument("--format", choices=[f for f in FORMATS if f != "json"], default="jsonl",
                   help="output format (default: jsonl)")


def _configure_train(p: Parser, argv: Sequence[str]) -> None:
    _add_train_arguments(p)
    p.set_defaults(func=_cmd_train)


def _configure_eval(p: Parser, argv: Sequence[str]) -> None:
    p.add_argument("run", type=Path, help="run directory")
    p.add_argument("--data", type=Path, required=True, help="dataset file (any format)")
    p.add_argument("--out", type=Path, default=None, help="write the results as JSON here")
    p.add_argument("--limit", type=flag(Count, "limit"), default=None,
                   help="evaluate the first N examples only")
    p.add_argument("--batch-size", type=flag(Count, "batch_size"), default=64,
                   help="decoding batch size")
    p.add_argument("--latency-examples", type=flag(Count0, "latency_examples"), default=16,
                   help="examples timed one at a time for ttft_ms/latency_ms (0: none)")
    p.add_argument("--predictions", action="store_true", help="include every prediction")
    p.add_argument("--device", default="cpu", help="cpu or cuda")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_eval)


def _configure_capture(p: Parser, argv: Sequence[str]) -> None:
    from workbench.capture import CaptureConfig

    p.add_argument("run", help="run directory")
    add_arguments(p, CaptureConfig, skip=("run",))
    p.set_defaults(func=_cmd_capture)


def _configure_import(p: Parser, argv: Sequence[str]) -> None:
    from workbench.imports import ImportConfig

    p.add_argument("source", help="the checkpoint: a file or the directory holding it")
    add_arguments(p, ImportConfig, skip=("source",))
    p.set_defaults(func=_cmd_import)


def _cmd_import(args: argparse.Namespace) -> int:
    from workbench.imports import ImportConfig, run_import

    out = run_import(from_namespace(ImportConfig, args))
    print(f"imported {args.source} ({args.format}) into {out}")
    return 0


def _configure_compare(p: Parser, argv: Sequence[str]) -> None:
    p.add_argument("runs", type=Path, nargs="+", help="run directories")
    p.add_argument("--split", default="test", help="which split's metrics (default: test)")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=_cmd_compare)


def _configure_results(p: Parser, argv: Sequence[str]) -> None:
    p.add_argument("runs", type=Path, nargs="*", help="finished run directories to add")
    p.add_argument("--out", type=Path, default=Path("docs/RESULTS.md"), help="page to write")
    p.add_argument("--notes", type=Path, default=Path("docs/results/notes.md"),
                   help="hand-written discussion appended to the page")
    p.add_argument("--analyses", type=Path, nargs="*", default=[],
                   help="run directories whose analyses/*.json to keep and show (claim 2)")
    p.add_argument("--bench", type=Path, nargs="*", default=[],
                   help="JSON printed by benchmarks/*.py to keep and show (FILE's name = script)")
    p.set_defaults(func=_cmd_results)


def _configure_models(p: Parser, argv: Sequence[str]) -> None:
    from workbench.tasks import TASKS

    p.add_argument("--task", choices=list(TASKS), default="prosqa",
                   help="task whose vocabulary sizes the embedding (default: prosqa)")
    p.add_argument("--n-ctx", type=flag(ContextLength, "n_ctx"), default=512,
                   help="context length (default: 512)")
    p.set_defaults(func=_cmd_models)


def _cmd_experiment(args: argparse.Namespace) -> int:
    from lwb import experiment

    config = args.config or Path("experiments") / f"{args.grid}.yaml"
    if args.grid == "zoo":
        manifest = experiment.zoo(config, quiet=args.quiet)
        print(f"exported {len(manifest['runs'])} runs to zoo/")
        return 0
    experiment.run_grid(experiment.read_grid(config), quiet=args.quiet)
    return 0


def _configure_experiment(p: Parser, argv: Sequence[str]) -> None:
    p.add_argument("grid", choices=["zoo", "efficiency", "scaling", "ablations", "custom"],
                   help="which grid (custom: only --config)")
    p.add_argument("--config", type=Path, default=None,
                   help="grid file (default: experiments/<grid>.yaml)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=_cmd_experiment)


def _configure_demo(p: Parser, argv: Sequence[str]) -> None:
    from lwb.demo import DemoConfig

    add_arguments(p, DemoConfig)
    p.set_defaults(func=_cmd_demo)


def _cmd_app(args: argparse.Namespace) -> int:
    from lwb.serve import serve

    return serve(Path(args.runs), port=args.port, host=args.host, timeout=args.timeout)


def _configure_app(p: Parser, argv: Sequence[str]) -> None:
    p.add_argument("--runs", default="runs",
                   help="runs root: run directories (depth <= 3) with store/ and analyses/ "
                        "(default: runs; layout in docs/app.md)")
    p.add_argument("--port", type=flag(Port, "port"), default=8501, help="port (default: 8501)")
    p.add_argument("--host", default="127.0.0.1",
                   help="address to listen on (default: 127.0.0.1, this machine only)")
    p.add_argument("--timeout", type=flag(PositiveFloat, "timeout"), default=120,
                   help="seconds to wait for the server to answer (default: 120)")
    p.set_defaults(func=_cmd_app)


#: Every subcommand: its one-line help and the function that adds its arguments. Only the
#: command being run is configured, so ``lwb --help`` does not import torch.
COMMANDS = {
    "data": ("generate, inspect, validate and convert datasets", _configure_data),
    "train": ("train a method on a task (a resumable run directory)", _configure_train),
    "eval": ("evaluate a run on a dataset file (accuracy, tokens, latency)", _configure_eval),
    "capture": ("record every latent step's states into a store", _configure_capture),
    "import": ("turn a published checkpoint (hf, coconut, icot, codi) into a run",
               _configure_import),
    "analyze": ("run an analysis on a trajectory store (or runs)", _configure_analyze),
    "compare": ("tabulate runs side by side", _configure_compare),
    "results": ("snapshot finished runs and render docs/RESULTS.md", _configure_results),
    "experiment": ("train a declarative grid of runs (zoo, efficiency, scaling, ablations)",
                   _configure_experiment),
    "models": ("list the model presets and their parameter counts", _configure_models),
    "demo": ("the main job on built-in defaults (see README)", _configure_demo),
    "app": ("serve the Streamlit app on a runs root (127.0.0.1 by default)", _configure_app),
}


def build_parser(argv: Sequence[str] | None = None) -> Parser:
    argv = list(sys.argv[1:] if argv is None else argv)
    chosen = next((a for a in argv if not a.startswith("-")), None)
    parser = Parser(prog="lwb", description="Latent Workbench: train, capture and analyse "
                    "latent-reasoning language models.")
    parser.add_argument("--version", action="version", version=f"lwb {__version__}")
    sub = parser.add_subparsers(title="commands", metavar="COMMAND", parser_class=Parser)
    for name, (help_text, configure) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text)
        if name == chosen:
            configure(p, argv)
    add_config_flags(parser)
    return parser


def _leaf(parser: argparse.ArgumentParser, argv: Sequence[str]) -> argparse.ArgumentParser:
    """The (sub)parser of the command ``argv`` names (``train``, ``data generate``, …)."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            word = next((a for a in argv if not a.startswith("-")), None)
            if word in action.choices:
                rest = list(argv)[list(argv).index(word) + 1:]
                return _leaf(action.choices[word], rest)
    return parser


def add_config_flags(parser: argparse.ArgumentParser) -> None:
    """``--config FILE`` on every command that takes options (each leaf of the command tree)."""
    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if subs:
        for sub in subs:
            for child in set(sub.choices.values()):
                add_config_flags(child)
        return
    options = [a for a in parser._actions if a.option_strings and a.dest not in ("help",)]
    if options and "--config" not in parser._option_string_actions:
        parser.add_argument("--config", type=Path, default=None,
                            help="JSON or YAML file of option values, keyed by flag name "
                                 "(flags given here win)")


def _from_file(action: argparse.Action, value: Any, path: str, key: str) -> Any:
    """A ``--config`` value checked and converted as the flag's own text would be."""
    def one(item: Any) -> Any:
        if isinstance(item, (dict, list)) or item is None:
            raise UserError(f"expected a single value, got {type(item).__name__}", file=path,
                            field=key)
        if action.type is None:
            return item if isinstance(item, str) else str(item)
        try:
            return action.type(item if isinstance(item, str) else json.dumps(item))
        except (argparse.ArgumentTypeError, TypeError, ValueError) as e:
            raise UserError(str(e), file=path, field=key) from None

    if isinstance(action, argparse.BooleanOptionalAction) or action.nargs == 0:
        if not isinstance(value, bool):
            raise UserError(f"expected true or false, got {value!r}", file=path, field=key)
        return value
    if value is None:
        return None
    if action.nargs in ("+", "*"):
        items = value if isinstance(value, list) else [value]
        if not items and action.nargs == "+":
            raise UserError("expected at least one value", file=path, field=key)
        converted = [one(v) for v in items]
    else:
        converted = one(value)
    for item in converted if isinstance(converted, list) else [converted]:
        if action.choices is not None and item not in action.choices:
            raise UserError(f"{item!r} is not one of {', '.join(map(str, action.choices))}",
                            file=path, field=key)
    return converted


def _apply_config_file(parser: Parser, argv: Sequence[str] | None) -> None:
    """``lwb COMMAND --config FILE``: the file's values (keyed by flag name, dashes or
    underscores) become defaults that the flags given override; every value is checked as its
    flag's text would be, and an error names the file and the key."""
    from workbench.config import read_config_file

    argv = list(sys.argv[1:] if argv is None else argv)
    if "--config" not in argv:
        return
    i = argv.index("--config")
    if i + 1 >= len(argv):
        return
    leaf = _leaf(parser, argv[:i])
    path = argv[i + 1]
    values = read_config_file(path)
    actions = {a.dest: a for a in leaf._actions
               if a.option_strings and a.dest not in ("help", "config", "version")}
    checked = {}
    for key, value in values.items():
        if key not in actions:
            raise UserError(f"unknown option {key!r}", file=path, field=key)
        checked[key] = _from_file(actions[key], value, path, key)
    leaf.set_defaults(**checked)


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised in the main thread like Ctrl-C so that every ``finally`` and
    ``except BaseException`` clean-up runs (temporary files, ``.partial`` checkpoints, a run
    that never reached its first checkpoint)."""

    status = 128 + 15


def _on_sigterm(signum: int, frame: object) -> None:
    import signal

    # a second SIGTERM while cleaning up is ignored: the clean-up is short, SIGKILL still works
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    raise Terminated()


@contextlib.contextmanager
def _signals_raise() -> Iterator[None]:
    """While a command runs, SIGTERM raises :class:`Terminated` (SIGINT already raises
    KeyboardInterrupt); the previous handler is restored afterwards (``main`` is also called
    in-process by tests)."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser(argv)
    try:
        _apply_config_file(parser, argv)
    except UserError as e:
        print(f"lwb: error: {e}", file=sys.stderr)
        return EXIT_USER_ERROR
    args = parser.parse_args(argv)
    if not hasattr(args, "func"):
        parser.print_help()
        return 0
    try:
        with _signals_raise():
            return int(args.func(args) or 0)
    except UserError as e:
        print(f"lwb: error: {e}", file=sys.stderr)
        return EXIT_USER_ERROR
    except OSError as e:  # a full disk, a read-only directory: one line, nothing half-written
        where = f"{e.filename}: " if getattr(e, "filename", None) else ""
        print(f"lwb: error: {where}{e.strerror or e}", file=sys.stderr)
        return EXIT_USER_ERROR
    except Terminated:
        print("lwb: terminated (SIGTERM)", file=sys.stderr)
        return Terminated.status
    except KeyboardInterrupt:
        print("lwb: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
