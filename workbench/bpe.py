"""The byte-level BPE tokenizer of an imported model, behind the word-level tokenizer's interface.

An imported run (``lwb import``) keeps its model's own tokenizer, so a question is tokenised as
the original project tokenised it. Its ``tokenizer.json`` is the workbench's tokenizer file with
``kind: "bpe"``: the Hugging Face ``tokenizers`` definition (``hf``, loaded from the file, never
from the network) and the **roles**: which of the model's tokens plays each workbench token
(``<eos>`` → ``<|endoftext|>``, Coconut's ``<latent>`` → ``<|latent|>``, …). A role the model has
no token for is an error naming the role when a method asks for it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import asdict
from functools import cached_property
from pathlib import Path
from typing import Any

from workbench.errors import UserError
from workbench.io import atomic_write_text
from workbench.tokenizer import EOS, PAD, SPECIAL_TOKENS, TextTemplate

FORMAT, VERSION = "latent-workbench/tokenizer", 2


class BPETokenizer:
    """A ``tokenizers.Tokenizer`` with the roles of the workbench's special tokens."""

    def __init__(self, hf: Any, roles: Mapping[str, str], *, name: str = "",
                 template: TextTemplate | None = None) -> None:
        self.hf = hf
        self.name = name
        self.template = template or TextTemplate(bos=False)
        unknown = sorted(set(roles) - set(SPECIAL_TOKENS))
        if unknown:
            raise UserError(f"unknown role {unknown[0]!r}; roles are "
                            f"{', '.join(SPECIAL_TOKENS)}", field="roles")
        self.roles = dict(roles)
        #: role → the id of its token: a role names a token of the vocabulary (``<|latent|>``)
        #: or a text that is one token of it (``###``, a newline)
        self.role_ids: dict[str, int] = {}
        for role, text in self.roles.items():
            i = self.hf.token_to_id(text)
            if i is None:
                ids = self.hf.encode(text, add_special_tokens=False).ids
                if len(ids) != 1:
                    raise UserError(f"role {role} is {text!r}, which is {len(ids)} tokens of "
                                    "this tokenizer: a role must be one token", field="roles")
                i = ids[0]
            self.role_ids[role] = i

    # -- construction ---------------------------------------------------------------------------
    @classmethod
    def from_directory(cls, directory: str | Path, roles: Mapping[str, str],
                       added: Iterable[str] = (), *, name: str = "",
                       template: TextTemplate | None = None) -> BPETokenizer:
        """The tokenizer of a Hugging Face model directory (``tokenizer.json``, or GPT-2's
        ``vocab.json`` + ``merges.txt``), local files only, with ``added`` special tokens
        appended in order (as the original project added them)."""
        from tokenizers import Tokenizer as HF
        from tokenizers import decoders, models, pre_tokenizers

        directory = Path(directory)
        try:
            if (directory / "tokenizer.json").is_file():
                hf = HF.from_file(str(directory / "tokenizer.json"))
            elif (directory / "vocab.json").is_file() and (directory / "merges.txt").is_file():
                hf = HF(models.BPE.from_file(str(directory / "vocab.json"),
                                             str(directory / "merges.txt")))
                hf.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
                hf.decoder = decoders.ByteLevel()
                if hf.token_to_id("<|endoftext|>") is not None:
                    hf.add_special_tokens(["<|endoftext|>"])
            else:
                raise UserError("no tokenizer.json, nor vocab.json and merges.txt",
                                file=directory)
        except UserError:
            raise
        except Exception as e:  # noqa: BLE001 — the tokenizers library's parse errors
            raise UserError(f"cannot read the tokenizer: {' '.join(str(e).split())[:160]}",
                            file=directory) from None
        new = [t for t in added if hf.token_to_id(t) is None]
        if new:
            hf.add_special_tokens(new)
        return cls(hf, roles, name=name, template=template)

    # -- use ------------------------------------------------------------------------------------
    def __len__(self) -> int:
        return self.hf.get_vocab_size(with_added_tokens=True)

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, BPETokenizer) and self.roles == other.roles
                and self.template == other.template and self.hf.to_str() == other.hf.to_str())

    @cached_property
    def vocab(self) -> list[str]:
        out = [""] * len(self)
        for token, i in self.hf.get_vocab(with_added_tokens=True).items():
            out[i] = token
        return out

    @cached_property
    def index(self) -> dict[str, int]:
        return dict(self.hf.get_vocab(with_added_tokens=True))

    def id(self, token: str) -> int:
        """The id of ``token``, or of the model's token for a workbench role (``<eos>``)."""
        if token in SPECIAL_TOKENS:
            if token not in self.role_ids:
                raise UserError(f"this imported tokenizer has no token for {token} (roles: "
                                f"{', '.join(sorted(self.roles)) or 'none'})")
            return self.role_ids[token]
        i = self.hf.token_to_id(token)
        if i is None:
            raise UserError(f"unknown token {token!r} (not in the {self.name or 'run'} "
                            "vocabulary)")
        return i

    def encode(self, text: str) -> list[int]:
        """Token ids of ``text`` (byte-level: every string has some)."""
        return list(self.hf.encode(text, add_special_tokens=False).ids)

    def decode(self, ids: Iterable[int], *, skip_special: bool = False) -> str:
        return self.hf.decode([int(i) for i in ids], skip_special_tokens=skip_special)

    @property
    def pad_id(self) -> int:
        return self.id(PAD if PAD in self.roles else EOS)

    # -- files ----------------------------------------------------------------------------------
    def to_json(self) -> str:
        return json.dumps({"format": FORMAT, "version": VERSION, "kind": "bpe",
                           "name": self.name, "roles": self.roles,
                           "template": asdict(self.template),
                           "hf": json.loads(self.hf.to_str())})

    def save(self, path: str | Path) -> None:
        atomic_write_text(path, self.to_json() + "\n")

    @classmethod
    def from_file_data(cls, data: Any, path: Path) -> BPETokenizer:
        """From a validated :class:`workbench.artifacts.BPETokenizerFile`."""
        from tokenizers import Tokenizer as HF

        try:
            hf = HF.from_str(json.dumps(data.hf))
        except Exception as e:  # noqa: BLE001
            raise UserError(f"not a valid tokenizer definition: {' '.join(str(e).split())[:160]}",
                            file=path, field="hf") from None
        try:
            template = TextTemplate(**data.template)
        except TypeError as e:
            raise UserError(f"unknown template field: {e}", file=path, field="template") from None
        except UserError as e:
            raise e.at(file=path, field="template") from None
        try:
            return cls(hf, data.roles, name=data.name, template=template)
        except UserError as e:
            raise e.at(file=path) from None


def load_tokenizer(path: str | Path) -> Any:
    """A run's ``tokenizer.json``: the word-level :class:`~workbench.tokenizer.Tokenizer` the
    workbench's own runs use, or an imported model's :class:`BPETokenizer` (``kind: "bpe"``)."""
    from workbench.artifacts import BPETokenizerFile, read
    from workbench.schemas import parse
    from workbench.tokenizer import Tokenizer

    path = Path(path)
    value = read(path, missing="file not found")
    if isinstance(value, dict) and value.get("kind") == "bpe":
        return BPETokenizer.from_file_data(parse(BPETokenizerFile, value, file=path), path)
    return Tokenizer.load(path)


def with_every_role(tok: BPETokenizer) -> BPETokenizer:
    """``tok`` with a token for every workbench role it lacks (RiM's ``<b>`` ``<m>`` ``</b>``
    ``<r>``, ``<pause>``, …), appended in the roles' order as special tokens named after the
    role: what fine-tuning an imported model with any method needs. Deterministic, so a resumed
    fine-tune rebuilds the same tokenizer."""
    from tokenizers import Tokenizer as HF

    missing = [r for r in SPECIAL_TOKENS if r not in tok.roles]
    if not missing:
        return tok
    hf = HF.from_str(tok.hf.to_str())
    hf.add_special_tokens(missing)
    return BPETokenizer(hf, {**tok.roles, **{r: r for r in missing}}, name=tok.name,
                        template=tok.template)
