"""``lwb import``: each format's tiny checkpoint becomes a run whose model, loaded by plain
TransformerLens, gives the original's log-probabilities; unsafe and mismatched files are refused
with one line."""

from __future__ import annotations

import json
import os
from collections import OrderedDict
from pathlib import Path

import pytest
import safetensors.torch
import torch
from conftest import resized, tiny_gpt2, tiny_tokenizer
from transformers import GPT2LMHeadModel

from lwb.cli import main


def plain_tl(run: Path):
    """The run's model as a TransformerLens user loads it, with nothing of this package."""
    from transformer_lens import HookedTransformer, HookedTransformerConfig

    cfg = json.loads((run / "config.json").read_text())
    model = HookedTransformer(HookedTransformerConfig(**cfg["model"]))
    model.load_state_dict(safetensors.torch.load_file(str(run / "model.safetensors")))
    return model.eval()


def assert_same_logprobs(original, run: Path, vocab: int) -> None:
    ids = torch.randint(0, vocab, (3, 24), generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        want = torch.log_softmax(original(ids).logits.float(), -1)
        got = torch.log_softmax(plain_tl(run)(ids), -1)
    assert got.shape == want.shape
    assert (got - want).abs().max().item() < 1e-3


def imported(capsys, *args: str) -> tuple[int, str]:
    capsys.readouterr()  # what the fixtures printed (transformers' progress bars)
    code = main(["import", *args])
    return code, capsys.readouterr().err.strip()


@pytest.mark.parametrize("weights", ["safetensors", "bin"])
def test_hf_directory(tmp_path, capsys, weights):
    src = tmp_path / "hf"
    vocab = tiny_tokenizer(src)
    model = tiny_gpt2(vocab)
    if weights == "safetensors":
        model.save_pretrained(src)  # config.json + model.safetensors (tied head left out)
    else:
        model.config.save_pretrained(src)
        torch.save(model.state_dict(), src / "pytorch_model.bin")
    assert imported(capsys, str(src), "--format", "hf", "--out", str(tmp_path / "run"))[0] == 0
    assert_same_logprobs(model, tmp_path / "run", vocab)
    run_cfg = json.loads((tmp_path / "run" / "config.json").read_text())
    assert run_cfg["imported"]["format"] == "hf" and run_cfg["method"]["name"] == "nocot"
    from workbench.io import sha256_file

    file = src / ("model.safetensors" if weights == "safetensors" else "pytorch_model.bin")
    assert run_cfg["imported"]["sha256"] == sha256_file(file)
    from workbench.runs import load_run

    run = load_run(tmp_path / "run")  # checksums, tokenizer and weights agree
    text = "Every wumpus is a yumpus."
    from tokenizers import Tokenizer

    original = Tokenizer.from_file(str(src / "tokenizer.json"))
    assert run.tokenizer.encode(text) == original.encode(text).ids
    assert run.tokenizer.id("<eos>") == original.token_to_id("<|endoftext|>")
    assert run.tokenizer.decode(run.tokenizer.encode(text)) == text


def test_coconut_checkpoint(tmp_path, capsys, base_dir):
    """Coconut's checkpoint_N: the wrapper's state dict (base_causallm.*, the embedding a second
    time), three latent tokens appended to the vocabulary; config and tokenizer from --base."""
    model = resized(GPT2LMHeadModel.from_pretrained(base_dir, local_files_only=True).eval(), 3)
    state = OrderedDict((f"base_causallm.{k}", v.clone()) for k, v in model.state_dict().items())
    state["embedding.weight"] = model.get_input_embeddings().weight.clone()
    (tmp_path / "ckpt").mkdir()
    torch.save(state, tmp_path / "ckpt" / "checkpoint_3")
    code, err = imported(capsys, str(tmp_path / "ckpt" / "checkpoint_3"), "--format", "coconut",
                         "--base", str(base_dir), "--out", str(tmp_path / "run"))
    assert code == 0, err
    vocab = model.get_input_embeddings().weight.shape[0]
    assert_same_logprobs(model, tmp_path / "run", vocab)
    from workbench.runs import load_run

    tok = load_run(tmp_path / "run").tokenizer
    assert [tok.id(r) for r in ("<bot>", "<eot>", "<latent>")] == [vocab - 3, vocab - 2,
                                                                   vocab - 1]
    assert json.loads((tmp_path / "run" / "config.json").read_text())["method"]["name"] \
        == "coconut"
    # without --base there is no config or tokenizer to go by
    code, err = imported(capsys, str(tmp_path / "ckpt" / "checkpoint_3"), "--format", "coconut",
                         "--out", str(tmp_path / "run2"))
    assert code == 2 and "--base" in err and not (tmp_path / "run2").exists()


def test_icot_directory(tmp_path, capsys, base_dir):
    """iCoT's save_pretrained: its own config.json and state_dict.bin (keys under base_model.)."""
    model = GPT2LMHeadModel.from_pretrained(base_dir, local_files_only=True).eval()
    src = tmp_path / "icot"
    src.mkdir()
    (src / "config.json").write_text(json.dumps({"base_model": "gpt2",
                                                 "tokenizer_name": "gpt2"}))
    torch.save({f"base_model.{k}": v for k, v in model.state_dict().items()},
               src / "state_dict.bin")
    code, err = imported(capsys, str(src), "--format", "icot", "--base", str(base_dir),
                         "--out", str(tmp_path / "run"))
    assert code == 0, err
    assert_same_logprobs(model, tmp_path / "run", model.config.vocab_size)


class LoRA(torch.nn.Module):
    """PEFT's LoRA on one GPT-2 Conv1D, computed in activation space: y + s·(x Aᵀ) Bᵀ."""

    def __init__(self, base, r: int, alpha: float, seed: int):
        super().__init__()
        d_in, d_out = base.weight.shape  # Conv1D: [in, out]
        g = torch.Generator().manual_seed(seed)
        self.base_layer, self.scale = base, alpha / r
        self.lora_A = torch.nn.ModuleDict({"default": torch.nn.Linear(d_in, r, bias=False)})
        self.lora_B = torch.nn.ModuleDict({"default": torch.nn.Linear(r, d_out, bias=False)})
        with torch.no_grad():
            self.lora_A["default"].weight.copy_(torch.randn(r, d_in, generator=g) * 0.2)
            self.lora_B["default"].weight.copy_(torch.randn(d_out, r, generator=g) * 0.2)

    def forward(self, x):
        return self.base_layer(x) + self.scale * self.lora_B["default"](self.lora_A["default"](x))


def codi_checkpoint(base_dir: Path, out: Path, alpha: float = 32.0, r: int = 4):
    """CODI's module as Trainer.save_model writes it: the GPT-2 (bf16 base weights) under PEFT
    LoRA on c_attn, c_proj and c_fc, its projection prj (Dropout, Linear, GELU, Linear, ln)."""
    model = resized(GPT2LMHeadModel.from_pretrained(base_dir, local_files_only=True).eval(), 3)
    with torch.no_grad():  # CODI loads its base in bf16: the import reads what it saved
        for p in model.parameters():
            p.copy_(p.to(torch.bfloat16).float())
    seed = 10
    for block in model.transformer.h:
        for parent, name in ((block.attn, "c_attn"), (block.attn, "c_proj"),
                             (block.mlp, "c_fc"), (block.mlp, "c_proj")):
            seed += 1
            setattr(parent, name, LoRA(getattr(parent, name), r, alpha, seed))
    state = {f"codi.base_model.model.{k}": (v.to(torch.bfloat16) if "lora_" not in k else v)
             for k, v in model.state_dict().items()}
    prj = torch.nn.Sequential(OrderedDict([
        ("0", torch.nn.Dropout(0.0)), ("1", torch.nn.Linear(32, 48)), ("2", torch.nn.GELU()),
        ("3", torch.nn.Linear(48, 32)), ("ln", torch.nn.LayerNorm(32))]))
    with torch.no_grad():
        prj.ln.weight.add_(0.3)
    state.update({f"prj.{k}": v for k, v in prj.state_dict().items()})
    out.mkdir()
    torch.save(state, out / "pytorch_model.bin")
    return model.eval(), prj.eval()


def test_codi_checkpoint_merges_lora_and_keeps_the_projection(tmp_path, capsys, base_dir):
    model, prj = codi_checkpoint(base_dir, tmp_path / "codi")
    vocab = model.get_input_embeddings().weight.shape[0]
    code, err = imported(capsys, str(tmp_path / "codi"), "--format", "codi", "--base",
                         str(base_dir), "--out", str(tmp_path / "run"))
    assert code == 0, err
    assert_same_logprobs(model, tmp_path / "run", vocab)  # LoRA in activation space vs merged
    from workbench.runs import load_run

    run = load_run(tmp_path / "run")
    assert [run.tokenizer.id(r) for r in ("<pad>", "<bot>", "<eot>")] == [vocab - 3, vocab - 2,
                                                                          vocab - 1]
    projection = run.method_state
    assert projection is not None and projection["net.1.weight"].shape == (48, 32)
    from workbench.methods.codi import Projection

    mine = Projection(32, 48)
    mine.load_state_dict(projection)
    x = torch.randn(5, 32)
    with torch.no_grad():
        assert torch.allclose(mine.eval()(x), prj(x), atol=1e-6)
    # a wrong --lora-alpha is a different model: the import is not silently forgiving
    assert imported(capsys, str(tmp_path / "codi"), "--format", "codi", "--base", str(base_dir),
                    "--lora-alpha", "8", "--out", str(tmp_path / "run8"))[0] == 0
    with torch.no_grad():
        ids = torch.arange(20)[None]
        assert not torch.allclose(plain_tl(tmp_path / "run8")(ids), plain_tl(tmp_path / "run")(ids),
                                  atol=1e-3)


def test_a_malicious_pickle_is_refused_without_running(tmp_path, capsys, base_dir):
    marker = tmp_path / "ran"

    class Payload:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    state = {f"base_causallm.{k}": v for k, v in
             GPT2LMHeadModel.from_pretrained(base_dir, local_files_only=True).state_dict().items()}
    state["base_causallm.extra"] = Payload()
    torch.save(state, tmp_path / "checkpoint_1")
    code, err = imported(capsys, str(tmp_path / "checkpoint_1"), "--format", "coconut", "--base",
                         str(base_dir), "--out", str(tmp_path / "run"))
    assert code == 2 and len(err.splitlines()) == 1 and "Traceback" not in err
    assert "checkpoint_1: refused: the pickle holds objects other than tensors" in err
    assert "posix.system" in err
    assert not marker.exists() and not (tmp_path / "run").exists()


def test_shapes_that_do_not_match_base_are_refused_naming_the_tensor(tmp_path, capsys, base_dir):
    model = GPT2LMHeadModel.from_pretrained(base_dir, local_files_only=True)
    state = {f"base_model.{k}": v.clone() for k, v in model.state_dict().items()}
    state["base_model.transformer.h.1.mlp.c_fc.weight"] = torch.zeros(32, 64)  # n_inner 128
    src = tmp_path / "icot"
    src.mkdir()
    torch.save(state, src / "state_dict.bin")
    code, err = imported(capsys, str(src), "--format", "icot", "--base", str(base_dir), "--out",
                         str(tmp_path / "run"))
    assert code == 2 and len(err.splitlines()) == 1
    assert "state_dict.bin: tensor transformer.h.1.mlp.c_fc.weight has shape (32, 64) but the " \
           "model (the config of" in err and "needs (32, 128)" in err
    assert not (tmp_path / "run").exists()
    # a checkpoint of another layout's keys
    torch.save({"model.layers.0.weight": torch.zeros(2)}, src / "state_dict.bin")
    code, err = imported(capsys, str(src), "--format", "icot", "--base", str(base_dir), "--out",
                         str(tmp_path / "run"))
    assert code == 2 and "unexpected tensor model.layers.0.weight" in err


def test_an_import_writes_only_a_new_run_and_leaves_nothing_on_refusal(tmp_path, capsys):
    src = tmp_path / "hf"
    tiny_gpt2(tiny_tokenizer(src)).save_pretrained(src)
    out = tmp_path / "run"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    code, err = imported(capsys, str(src), "--out", str(out))
    assert code == 2 and "exists and is not empty" in err
    assert (out / "notes.txt").read_text() == "mine"
    code, err = imported(capsys, str(src), "--out", str(src / "run"))  # inside the source
    assert code == 2 and "input --source" in err and not (src / "run").exists()
    # a stray directory where the partial run would go is not deleted
    stray = tmp_path / ".fresh.import-partial"
    stray.mkdir()
    (stray / "data.csv").write_text("1,2")
    code, err = imported(capsys, str(src), "--out", str(tmp_path / "fresh"))
    assert code == 2 and "data.csv" in err and (stray / "data.csv").exists()
    # an empty --out is filled; nothing is left beside it
    (tmp_path / "empty").mkdir()
    assert imported(capsys, str(src), "--out", str(tmp_path / "empty"))[0] == 0
    assert (tmp_path / "empty" / "manifest.json").is_file()
    assert not (tmp_path / ".empty.import-partial").exists()
