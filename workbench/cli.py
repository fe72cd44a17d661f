"""``lwb``: the command line. Each subcommand mirrors a config dataclass or a library function.

User errors print one line (``lwb: error: file:line: field 'x': …``) and exit with status 2.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from workbench import __version__
from workbench.config import add_arguments, from_namespace
from workbench.errors import EXIT_USER_ERROR, UserError


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
    from workbench.tasks.summary import format_table, summarize

    rows = summarize(_load(args).examples)
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        print(format_table(rows, title=str(args.file)))
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
    n = writer(args.out, examples)
    print(f"wrote {n} examples to {args.out}")
    return 0


def _cmd_models(args: argparse.Namespace) -> int:
    from workbench.models import PRESETS, build_model, count_parameters, model_config
    from workbench.tokenizer import Tokenizer

    d_vocab = len(Tokenizer.for_task(args.task))
    print(f"model presets (d_vocab={d_vocab} for {args.task}, n_ctx={args.n_ctx})")
    print(f"  {'name':6} {'layers':>6} {'d_model':>7} {'heads':>5} {'d_mlp':>6} {'params':>11}")
    for name, p in PRESETS.items():
        n = count_parameters(build_model(model_config(name, d_vocab, args.n_ctx)))
        print(f"  {name:6} {p.n_layers:>6} {p.d_model:>7} {p.n_heads:>5} {p.d_mlp:>6} {n:>11,}")
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from workbench.demo import DemoConfig, run_demo

    run_demo(from_namespace(DemoConfig, args))
    return 0


def build_parser() -> Parser:
    from workbench.demo import DemoConfig
    from workbench.tasks import TASKS
    from workbench.tasks.generate import GenerateConfig
    from workbench.tasks.loaders import FORMATS

    parser = Parser(prog="lwb", description="Latent Workbench: train, capture and analyse "
                    "latent-reasoning language models.")
    parser.add_argument("--version", action="version", version=f"lwb {__version__}")
    sub = parser.add_subparsers(title="commands", metavar="COMMAND", parser_class=Parser)

    data = sub.add_parser("data", help="generate, inspect, validate and convert datasets")
    data.set_defaults(func=lambda a: (data.print_help(), 0)[1])
    dsub = data.add_subparsers(title="data commands", metavar="COMMAND", parser_class=Parser)

    p = dsub.add_parser("generate", help="generate a split of a task as JSONL")
    add_arguments(p, GenerateConfig)
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_generate)

    def file_command(name: str, help: str, func) -> Parser:
        p = dsub.add_parser(name, help=help)
        p.add_argument("file", type=Path, help="JSONL, Coconut JSON array, or iCoT text file")
        p.add_argument("--task", choices=[*TASKS, "gsm"], default=None,
                       help="task of the examples (default: the 'task' field, else inferred)")
        p.set_defaults(func=func)
        return p

    file_command("inspect", "print counts and task statistics of a dataset file",
                 _cmd_inspect).add_argument("--json", action="store_true", help="print JSON")
    file_command("validate", "check every example, its proof and its tokens", _cmd_validate)
    p = file_command("convert", "load (deriving proofs) and write as JSONL or iCoT text",
                     _cmd_convert)
    p.add_argument("--out", type=Path, required=True, help="output file")
    p.add_argument("--format", choices=[f for f in FORMATS if f != "json"], default="jsonl",
                   help="output format (default: jsonl)")

    p = sub.add_parser("models", help="list the model presets and their parameter counts")
    p.add_argument("--task", choices=list(TASKS), default="prosqa",
                   help="task whose vocabulary sizes the embedding (default: prosqa)")
    p.add_argument("--n-ctx", type=int, default=512, help="context length (default: 512)")
    p.set_defaults(func=_cmd_models)

    p = sub.add_parser("demo", help="the main job on built-in defaults (see README)")
    add_arguments(p, DemoConfig)
    p.set_defaults(func=_cmd_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "func"):
        parser.print_help()
        return 0
    try:
        return int(args.func(args) or 0)
    except UserError as e:
        print(f"lwb: error: {e}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print("lwb: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
