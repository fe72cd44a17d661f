"""Word-level tokenizer, built deterministically from a task's symbol set.

Text is split into words, numbers, special tokens and single punctuation marks::

    "Every wumpus is a yumpus."  -> ["Every", "wumpus", "is", "a", "yumpus", "."]
    "<<a+4=7>>"                  -> ["<<", "a", "+", "4", "=", "7", ">>"]

``decode`` inverts ``encode`` on the project's canonical text (words separated by one space,
``. , ? :`` glued to the word before, ``<<…>>`` written without spaces), so a decoded prediction
compares equal to the reference string. An unknown word is a :class:`UserError` naming it.

:meth:`Tokenizer.encode` is a Hugging Face ``tokenizers`` ``WordLevel`` model (``Tokenizer.hf``,
as :mod:`workbench.bpe`'s imported tokenizers have) behind a pre-tokenizer that splits exactly as
:data:`WORD_PATTERN` does; :func:`split_words`, which the tasks call to count and find words,
stays Python's ``re`` on that pattern (several times faster on these short texts).
Decoding stays :func:`join_words`: no ``tokenizers`` decoder writes ``<<a+4=7>>`` without spaces
while gluing ``.`` to the word before it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cache, cached_property
from pathlib import Path
from typing import Any

from workbench.errors import UserError
from workbench.io import atomic_write_text

PAD, BOS, EOS = "<pad>", "<bos>", "<eos>"
BOT, EOT = "<bot>", "<eot>"  # begin / end of latent thought (Coconut)
LATENT, PAUSE = "<latent>", "<pause>"
BLOCK_OPEN, MEMORY, BLOCK_CLOSE = "<b>", "<m>", "</b>"  # RiM memory block: <b> <m>×M </b>
READOUT = "<r>"  # RiM readout marker
ANSWER = "<ans>"  # separates the question (and steps) from the answer
SEP = "<sep>"  # ends each written reasoning step (CoT), so generated steps can be segmented
SPECIAL_TOKENS = (
    PAD, BOS, EOS, BOT, EOT, LATENT, PAUSE, BLOCK_OPEN, MEMORY, BLOCK_CLOSE, READOUT, ANSWER, SEP
)

#: What a word is: a special token, ``<<`` or ``>>``, a run of letters, a run of digits, or any
#: other single non-space character. The ``tokenizers`` pre-tokenizer (:func:`_pre_tokenizer`) is
#: written from it.
WORD_PATTERN = re.compile(r"<[a-z/]+>|<<|>>|[A-Za-z_]+|\d+|\S")
#: the WordLevel model's unknown token: never a word (a word holds no space)
_UNKNOWN = " unknown word "
_GLUE_LEFT = {".", ",", "?", ":", ";", "!"}
FORMAT_VERSION = 1


@dataclass(frozen=True)
class TextTemplate:
    """How an example's texts are written around the workbench's marker tokens. The
    workbench's own tokenizer writes them bare after ``<bos>``; an imported model's tokenizer
    (:mod:`workbench.bpe`) writes them as its original project did (Coconut: no ``<bos>``, the
    question followed by a newline, ``###`` before the answer)."""

    bos: bool = True
    """Whether a sequence opens with ``<bos>``."""
    question: str = "{}"
    """The question's text, ``{}`` standing for the question."""
    step: str = "{}"
    """Each written step's text."""
    answer: str = "{}"
    """The answer's text after the ``<ans>`` marker."""
    before_answer: str = ""
    """Text written before the ``<ans>`` marker (CODI's ``The answer is`` before ``:``)."""

    def __post_init__(self) -> None:
        for name in ("question", "step", "answer"):
            text = getattr(self, name)
            if text.count("{}") != 1 or text.replace("{}", "").count("{") \
                    or text.replace("{}", "").count("}"):
                raise UserError("must hold {} exactly once and no other braces", field=name)

    def fill(self, name: str, text: str) -> str:
        return getattr(self, name).replace("{}", text)


def _char_class(chars: Sequence[str]) -> str:
    """A regex character class of ``chars`` as ranges of ``\\x{…}`` code points."""
    out, codes = [], sorted(map(ord, chars))
    start = prev = codes[0]
    for c in [*codes[1:], -1]:
        if c != prev + 1:
            out.append(f"\\x{{{start:x}}}" + (f"-\\x{{{prev:x}}}" if prev > start else ""))
            start = c
        prev = c
    return "".join(out)


@cache
def _pre_tokenizer() -> Any:
    """The ``tokenizers`` pre-tokenizer that splits as :data:`WORD_PATTERN`: Python's whitespace
    removed, then each match of the pattern one piece (``pre_tokenize_str`` gives
    :func:`split_words`'s words). Its regex engine (Oniguruma) reads
    ``\\d`` and ``\\s`` by another Unicode table than Python's (``\\x1c``-``\\x1f`` are spaces
    to Python only; digits added in later Unicode versions differ), so both are written out as
    the characters Python's ``re`` gives them here (none lies past plane 1; ~30 ms, once)."""
    from tokenizers import Regex, pre_tokenizers

    chars = "".join(map(chr, range(0xD800))) + "".join(map(chr, range(0xE000, 0x20000)))
    digits, spaces = _char_class(re.findall(r"\d", chars)), _char_class(re.findall(r"\s", chars))
    pattern = WORD_PATTERN.pattern.replace(r"\d", f"[{digits}]").replace(r"\S", f"[^{spaces}]")
    return pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(f"[{spaces}]+"), behavior="removed"),
        pre_tokenizers.Split(Regex(pattern), behavior="isolated")])


def split_words(text: str) -> list[str]:
    """The words of ``text`` as the tokenizer sees them."""
    return WORD_PATTERN.findall(text)


def join_words(words: Sequence[str]) -> str:
    """Inverse of :func:`split_words` on canonical text."""
    out: list[str] = []
    inside = False  # inside << >>, words are written without spaces
    for w in words:
        if w == ">>":
            inside = False
            out.append(w)
        elif inside or (out and (w in _GLUE_LEFT or out[-1] == "<<")):
            out.append(w)
        else:
            out.append((" " if out else "") + w)
        if w == "<<":
            inside = True
    return "".join(out)


class Tokenizer:
    """Maps words to ids; ids 0..len(SPECIAL_TOKENS)-1 are the special tokens, ``<pad>`` is 0."""

    #: the workbench's own layout: ``<bos>`` and the bare texts
    template = TextTemplate()

    def __init__(self, words: Iterable[str], *, name: str = "") -> None:
        symbols = sorted(set(words) - set(SPECIAL_TOKENS))
        for w in symbols:
            if split_words(w) != [w]:
                raise UserError(f"vocabulary entry {w!r} is not a single word")
        self.vocab: list[str] = list(SPECIAL_TOKENS) + symbols
        self.index: dict[str, int] = {w: i for i, w in enumerate(self.vocab)}
        self.name = name

    @cached_property
    def hf(self) -> Any:
        """The ``tokenizers.Tokenizer``: a ``WordLevel`` model of :attr:`vocab` (ids in its order,
        the unknown token one past the end) behind the pre-tokenizer of :data:`WORD_PATTERN`; no
        added tokens (a special token is a word of the pattern like any other), no normalizer,
        nothing added around a text."""
        from tokenizers import Tokenizer as HF
        from tokenizers import models

        hf = HF(models.WordLevel({**self.index, _UNKNOWN: len(self.vocab)}, unk_token=_UNKNOWN))
        hf.pre_tokenizer = _pre_tokenizer()
        return hf

    def __getstate__(self) -> dict[str, Any]:  # pickled without the derived tokenizers object
        return {k: v for k, v in self.__dict__.items() if k != "hf"}

    # -- construction ---------------------------------------------------------------------------
    @classmethod
    def from_texts(cls, texts: Iterable[str], *, name: str = "") -> Tokenizer:
        """A tokenizer covering every word of ``texts`` (for published data of open vocabulary)."""
        words: set[str] = set()
        for text in texts:
            words.update(split_words(text))
        return cls(words, name=name)

    # -- use ------------------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.vocab)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Tokenizer) and self.vocab == other.vocab

    def id(self, token: str) -> int:
        try:
            return self.index[token]
        except KeyError:
            raise UserError(f"unknown token {token!r}") from None

    def encode(self, text: str) -> list[int]:
        """Token ids of ``text``; raises :class:`UserError` on a word outside the vocabulary."""
        ids = self.hf.encode(text, add_special_tokens=False).ids
        if len(self.vocab) in ids:
            w = next(w for w in split_words(text) if w not in self.index)
            raise UserError(f"unknown token {w!r} (not in the {self.name or 'run'} vocabulary)")
        return ids

    def decode(self, ids: Iterable[int], *, skip_special: bool = False) -> str:
        words = [self.vocab[int(i)] for i in ids]
        if skip_special:
            words = [w for w in words if w not in SPECIAL_TOKENS]
        return join_words(words)

    @property
    def pad_id(self) -> int:
        return self.index[PAD]

    # -- files ----------------------------------------------------------------------------------
    def to_json(self) -> str:
        return json.dumps(
            {"format": "latent-workbench/tokenizer", "version": FORMAT_VERSION,
             "name": self.name, "special_tokens": list(SPECIAL_TOKENS), "vocab": self.vocab},
            indent=1,
        )

    def save(self, path: str | Path) -> None:
        atomic_write_text(path, self.to_json() + "\n")

    @classmethod
    def load(cls, path: str | Path) -> Tokenizer:
        from workbench.artifacts import TokenizerFile, read

        path = Path(path)
        data = read(path, TokenizerFile, missing="file not found")
        vocab = data.vocab
        if list(vocab[: len(SPECIAL_TOKENS)]) != list(SPECIAL_TOKENS):
            raise UserError("special tokens missing or out of order", file=path, field="vocab")
        if len(set(vocab)) != len(vocab):
            raise UserError("entries must be distinct strings", file=path, field="vocab")
        tok = cls(vocab[len(SPECIAL_TOKENS):], name=data.name)
        if tok.vocab != vocab:
            raise UserError("vocabulary is not in canonical (sorted) order", file=path,
                            field="vocab")
        return tok
