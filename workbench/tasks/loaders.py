"""Read and write example files: our JSONL, Coconut's JSON (array or JSONL), iCoT's text lines.

* **JSONL** (what ``lwb data generate`` writes): one example object per line.
* **Coconut's JSON**: a JSON array (or JSONL) of ``{"question", "steps", "answer", ...}`` objects,
  as released for ProsQA, ProntoQA and GSM8k-Aug. ProsQA files carry the graph fields too.
* **iCoT's text**: one example per line, ``question||step step … #### answer``. Steps are the
  ``<<…>>`` expressions where there are any (GSM8k-Aug), otherwise the ``" + "``-separated
  partial products (multiplication).

Loading fills in what published files lack: ``task`` (inferred from the content when absent),
``id`` (``<file stem>-<index>``) and ``proof`` (derived from the steps). Every problem is a
:class:`UserError` naming the file, the line and the field; array elements are named ``[i]``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from workbench.errors import UserError
from workbench.io import atomic_open
from workbench.safety import check_output_file
from workbench.tasks.base import Example, check_common
from workbench.tokenizer import Tokenizer

FORMATS = ("jsonl", "json", "icot")
_GSM_STEP = re.compile(r"<<([^<>]*)>>")
GSM = "gsm"  # published arithmetic word problems: open vocabulary, proof from <<expr=value>>


@dataclass
class Record:
    """One raw example and where it came from."""

    example: Example
    line: int
    index: int

    def where(self, e: UserError, path: Path, fmt: str) -> UserError:
        if fmt == "json" and e.field is not None:
            e.field = f"[{self.index}].{e.field}"
        elif fmt == "json":
            e.field = f"[{self.index}]"
        return e.at(file=path, line=self.line)


def detect_format(text: str) -> str:
    head = text.lstrip()
    if head.startswith("["):
        return "json"
    if head.startswith("{"):
        return "jsonl"
    first = head.splitlines()[0] if head else ""
    if "||" in first:
        return "icot"
    return "unknown"


def _read_text(path: Path) -> str:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise UserError("file not found", file=path) from None
    except IsADirectoryError:
        raise UserError("is a directory, expected a file", file=path) from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        raise UserError(f"not UTF-8 text (byte {e.start})", file=path, line=line) from None


def _head(path: Path, size: int = 1 << 16) -> str:
    """The start of a file (enough to tell its format), read without loading the rest."""
    try:
        with path.open("rb") as f:
            return f.read(size).decode("utf-8", errors="replace")
    except FileNotFoundError:
        raise UserError("file not found", file=path) from None
    except IsADirectoryError:
        raise UserError("is a directory, expected a file", file=path) from None


def _lines(path: Path) -> Iterator[tuple[int, str]]:
    """``(line number, text)`` of each line, read one at a time (files of any size)."""
    offset = 0
    with path.open("rb") as f:
        for line_no, raw in enumerate(f, start=1):
            try:
                yield line_no, raw.decode("utf-8")
            except UnicodeDecodeError as e:
                raise UserError(f"not UTF-8 text (byte {offset + e.start})", file=path,
                                line=line_no) from None
            offset += len(raw)


def _json_records(text: str, path: Path) -> Iterator[Record]:
    """The elements of a JSON array, each with the line it starts on."""
    decoder = json.JSONDecoder()
    pos = text.index("[") + 1
    index = 0

    def skip(p: int) -> int:
        while p < len(text) and text[p] in " \t\r\n":
            p += 1
        return p

    pos = skip(pos)
    if pos < len(text) and text[pos] == "]":
        return
    line, counted = 1, 0
    while True:
        line += text.count("\n", counted, pos)  # counted as we go: linear in the file size
        counted = pos
        try:
            obj, pos = decoder.raw_decode(text, pos)
        except json.JSONDecodeError as e:
            raise UserError(f"invalid JSON: {e.msg} (column {e.colno})", file=path,
                            line=e.lineno) from None
        yield Record(_as_object(obj, path, line, f"[{index}]"), line, index)
        index += 1
        pos = skip(pos)
        if pos < len(text) and text[pos] == ",":
            pos = skip(pos + 1)
            continue
        if pos < len(text) and text[pos] == "]":
            if text[pos + 1 :].strip():
                raise UserError("unexpected text after the JSON array", file=path,
                                line=text.count("\n", 0, pos) + 1)
            return
        raise UserError("invalid JSON: expected ',' or ']' between examples", file=path,
                        line=text.count("\n", 0, pos) + 1)


def _as_object(obj: Any, path: Path, line: int, field: str | None = None) -> Example:
    if not isinstance(obj, dict):
        raise UserError(f"expected a JSON object, got {type(obj).__name__}", file=path, line=line,
                        field=field)
    return obj


def _jsonl_records(path: Path) -> Iterator[Record]:
    index = 0
    for line_no, line in _lines(path):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as e:
            raise UserError(f"invalid JSON: {e.msg} (column {e.colno})", file=path,
                            line=line_no) from None
        yield Record(_as_object(obj, path, line_no), line_no, index)
        index += 1


def _icot_records(path: Path) -> Iterator[Record]:
    index = 0
    for line_no, line in _lines(path):
        if not line.strip():
            continue
        if "||" not in line or "####" not in line:
            raise UserError("expected 'question||steps #### answer'", file=path, line=line_no)
        question, rest = line.split("||", 1)
        cot, answer = rest.rsplit("####", 1)
        cot = cot.strip()
        if "<<" in cot:
            steps = ["<<" + s + ">>" for s in _GSM_STEP.findall(cot)]
        else:
            steps = [s.strip() for s in cot.split(" + ")] if cot else []
        example = {"question": question.strip(), "steps": steps, "answer": answer.strip()}
        yield Record(example, line_no, index)
        index += 1


def infer_task(example: Example) -> str:
    """The task of an example without a ``task`` field, from its content: the first
    registered task that recognises it, else GSM (open vocabulary)."""
    from workbench.tasks import TASKS

    for task in TASKS.values():
        if task.recognise is not None and task.recognise(example):
            return task.name
    return GSM


def gsm_proof(example: Example) -> list[dict[str, Any]]:
    """``<<600*30/100=180>>`` → ``{"expr": "600*30/100", "value": 180}``."""
    proof = []
    for i, step in enumerate(example["steps"]):
        m = _GSM_STEP.fullmatch(step.strip())
        if not m or "=" not in m.group(1):
            raise UserError(f"expected '<<expression=value>>', got {step!r}", field=f"steps[{i}]")
        expr, value = m.group(1).rsplit("=", 1)
        try:
            number: float | int = float(value)
        except ValueError:
            raise UserError(f"value {value!r} is not a number", field=f"steps[{i}]") from None
        if float(number).is_integer():
            number = int(number)
        proof.append({"expr": expr, "value": number})
    return proof


def prepare(
    example: Example,
    task: str | None,
    *,
    derive: bool = True,
    tokenizer_for: Callable[[str], Tokenizer | None] | None = None,
) -> Example:
    """Validate one example and fill in ``task`` and ``proof``; raises naming the field.

    ``tokenizer_for(task)``, when given, supplies a tokenizer whose vocabulary every text field
    must fit (checked first: an unknown word is the most precise complaint).
    """
    from workbench.tasks import TASKS

    check_common(example)
    declared = task or example.get("task")
    name = declared or infer_task(example)
    if not isinstance(name, str) or (name not in TASKS and name != GSM):
        raise UserError(f"unknown task {name!r}", field="task")
    example["task"] = name
    tokenizer = tokenizer_for(name) if tokenizer_for is not None else None
    if tokenizer is not None:
        check_tokens(example, tokenizer)
    if derive and "proof" not in example:
        example["proof"] = gsm_proof(example) if name == GSM else TASKS[name].derive_proof(example)
    # A declared task promises its fields; a published file's inferred task is checked
    # structurally only where it carries the task's fields.
    if name in TASKS and (declared or all(f in example for f in TASKS[name].fields)):
        TASKS[name].check(example)
    return example


@dataclass
class LoadedFile:
    """The examples of a file and what loading did to them."""

    path: Path
    format: str
    examples: list[Example]
    derived_proofs: int
    lines: list[int]
    """The line each example starts on."""


def iter_file(
    path: str | Path, *, task: str | None = None, derive: bool = True, check_vocab: bool = False
) -> Iterator[tuple[Example, int, bool]]:
    """``(example, line, proof derived)`` for every example of a file, validated and completed
    as :func:`load_file` does, one at a time: JSONL and iCoT files are read line by line, so a
    file of any size streams in constant memory (a JSON array is parsed from its whole text)."""
    from workbench.tasks import TASKS

    path = Path(path)
    fmt = detect_format(_head(path))
    if fmt == "unknown":
        raise UserError(
            "unrecognised format: expected a JSON array, JSON lines, or iCoT's "
            "'question||steps #### answer' lines", file=path, line=1)
    if fmt == "json":
        records = _json_records(_read_text(path), path)
    else:
        records = {"jsonl": _jsonl_records, "icot": _icot_records}[fmt](path)
    tokenizers: dict[str, Tokenizer] = {}

    def tokenizer_for(name: str) -> Tokenizer | None:
        if name not in TASKS:
            return None  # open vocabulary (GSM): nothing to check against
        if name not in tokenizers:
            from workbench.tasks import task_tokenizer

            tokenizers[name] = task_tokenizer(name)
        return tokenizers[name]

    count = 0
    for rec in records:
        try:
            had_proof = "proof" in rec.example
            ex = prepare(rec.example, task, derive=derive,
                         tokenizer_for=tokenizer_for if check_vocab else None)
            ex.setdefault("id", f"{path.stem}-{rec.index:06d}")
        except UserError as e:
            raise rec.where(e, path, fmt) from None
        count += 1
        yield ex, rec.line, derive and not had_proof
    if not count:
        raise UserError("no examples", file=path)


def load_file(
    path: str | Path, *, task: str | None = None, derive: bool = True, check_vocab: bool = False
) -> LoadedFile:
    """Every example of a file, validated, with ``task``, ``id`` and ``proof`` filled in.

    With ``check_vocab`` every text field is also encoded with its task's tokenizer, so an
    unknown word fails here, naming its line and field.
    """
    path = Path(path)
    examples, derived, lines = [], 0, []
    for ex, line, was_derived in iter_file(path, task=task, derive=derive,
                                           check_vocab=check_vocab):
        examples.append(ex)
        lines.append(line)
        derived += was_derived
    return LoadedFile(path, detect_format(_head(path)), examples, derived, lines)


def load_examples(path: str | Path, *, task: str | None = None, derive: bool = True,
                  check_vocab: bool = False) -> list[Example]:
    """The examples of a file (see :func:`load_file`)."""
    return load_file(path, task=task, derive=derive, check_vocab=check_vocab).examples


def check_tokens(example: Example, tokenizer: Tokenizer) -> None:
    """Encode every text field; an unknown word raises naming the field."""
    fields = [("question", example["question"]), ("answer", example["answer"])]
    fields += [(f"steps[{i}]", s) for i, s in enumerate(example["steps"])]
    for name, value in fields:
        try:
            tokenizer.encode(value)
        except UserError as e:
            raise e.at(field=name) from None


def write_jsonl(path: str | Path, examples: Iterable[Example],
                inputs: dict[str, str | Path] | None = None) -> int:
    """Write examples as JSON lines, atomically; returns how many. ``path`` is never a
    directory, one of ``inputs`` (e.g. ``{"file": the file converted}``) or a file of a run or
    a store (:func:`workbench.safety.check_output_file`)."""
    check_output_file(path, inputs)
    n = 0
    with atomic_open(path, "w") as f:
        for ex in examples:
            f.write(json.dumps(ex, ensure_ascii=False) + "\n")
            n += 1
    return n


def write_icot(path: str | Path, examples: Iterable[Example],
               inputs: dict[str, str | Path] | None = None) -> int:
    """Write examples in iCoT's text format, atomically; returns how many (``path`` checked as
    in :func:`write_jsonl`)."""
    check_output_file(path, inputs)
    n = 0
    with atomic_open(path, "w") as f:
        for ex in examples:
            joiner = " " if any(s.startswith("<<") for s in ex["steps"]) else " + "
            f.write(f"{ex['question']}||{joiner.join(ex['steps'])} #### {ex['answer']}\n")
            n += 1
    return n
