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
from transformers import GPT2LMHeadModel

from lwb.cli import main
from tests.imports.tiny_gpt2 import resized, tiny_gpt2, tiny_tokenizer


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
    assert code == 2 and "needs max_latent_stage to run: give --option max_latent_stage=N" in err
    assert not (tmp_path / "run").exists()
    code, err = imported(capsys, str(tmp_path / "ckpt" / "checkpoint_3"), "--format", "coconut",
                         "--base", str(base_dir), "--out", str(tmp_path / "run"), "--option",
                         "max_latent_stage=6", "thoughts_per_step=1")
    assert code == 0, err
    vocab = model.get_input_embeddings().weight.shape[0]
    assert_same_logprobs(model, tmp_path / "run", vocab)
    from workbench.runs import load_run

    tok = load_run(tmp_path / "run").tokenizer
    assert [tok.id(r) for r in ("<bot>", "<eot>", "<latent>")] == [vocab - 3, vocab - 2,
                                                                   vocab - 1]
    method = json.loads((tmp_path / "run" / "config.json").read_text())["method"]
    assert method["name"] == "coconut" and method["max_latent_stage"] == 6
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


PROSQA = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "prosqa_valid.json"


def original_tokenizer(base_dir: Path, added=()):
    """The tokenizer as the original projects build it: transformers' GPT-2 tokenizer from the
    local files, tokens added in their order."""
    from transformers import GPT2TokenizerFast

    tok = GPT2TokenizerFast.from_pretrained(str(base_dir), local_files_only=True)
    for t in added:
        tok.add_tokens(t)
    return tok


def first_prosqa(n: int = 2) -> list[dict]:
    return json.loads(PROSQA.read_text())[:n]


def test_an_imported_coconut_writes_prosqa_as_coconut_does(tmp_path, capsys, base_dir):
    """The method's sequences for a real ProsQA question, token for token, against Coconut's
    dataset code's recipe: question + "\\n", <|start-latent|> <|latent|>×k <|end-latent|>, each
    remaining step + "\\n", "### " + answer, eos; no bos."""
    model = resized(GPT2LMHeadModel.from_pretrained(base_dir, local_files_only=True), 3)
    state = {f"base_causallm.{k}": v for k, v in model.state_dict().items()}
    torch.save(state, tmp_path / "checkpoint_6")
    code, err = imported(capsys, str(tmp_path / "checkpoint_6"), "--format", "coconut", "--base",
                         str(base_dir), "--out", str(tmp_path / "run"), "--option",
                         "max_latent_stage=6")
    assert code == 0, err
    from workbench.methods import method_of
    from workbench.methods.base import Stage, tokenize
    from workbench.runs import load_run

    run = load_run(tmp_path / "run")
    method = method_of(run)
    tok = original_tokenizer(base_dir, ("<|start-latent|>", "<|end-latent|>", "<|latent|>"))
    start, end, latent = (tok.convert_tokens_to_ids(t) for t in
                          ("<|start-latent|>", "<|end-latent|>", "<|latent|>"))
    eos = tok.eos_token_id
    for ex in first_prosqa():
        ours = tokenize({**ex, "id": "x"}, run.tokenizer)
        q = tok.encode(ex["question"] + "\n")
        assert method.prompt(ours).tokens == q + [start] + [latent] * 6 + [end]
        k = 2  # stage 2: two steps replaced by thoughts
        want = (q + [start] + [latent] * k + [end]
                + [t for s in ex["steps"][k:] for t in tok.encode(s + "\n")]
                + tok.encode("### " + ex["answer"]) + [eos])
        import random

        got = method.encode(ours, Stage(k, f"stage {k}", 0, 10), 0, random.Random(0)).tokens
        assert got == want


def test_an_imported_icot_writes_its_text_format(tmp_path, capsys, base_dir):
    """iCoT's data code: ' Q ' eos ' chain ' eos ' #### A ' eos; once the chain is internalised,
    ' Q ' eos ' #### A ' eos."""
    model = GPT2LMHeadModel.from_pretrained(base_dir, local_files_only=True)
    src = tmp_path / "icot"
    src.mkdir()
    torch.save({f"base_model.{k}": v for k, v in model.state_dict().items()},
               src / "state_dict.bin")
    assert imported(capsys, str(src), "--format", "icot", "--base", str(base_dir), "--out",
                    str(tmp_path / "run"), "--option", "max_cot_tokens=6")[0] == 0
    from workbench.methods import method_of
    from workbench.methods.base import Stage, tokenize
    from workbench.runs import load_run

    run = load_run(tmp_path / "run")
    method = method_of(run)
    tok = original_tokenizer(base_dir)
    eos = tok.eos_token_id
    ex = {"id": "m", "question": "3 * 4", "steps": ["3 * 4 = 12"], "answer": "12"}
    import random

    last = method.stages(10, 1)[-1]
    got = method.encode(tokenize(ex, run.tokenizer), last, 0, random.Random(0)).tokens
    assert got == tok.encode(" 3 * 4 ") + [eos] + tok.encode(" #### 12 ") + [eos]
    # its inference prompt is cut after the first eos, as iCoT's is
    assert isinstance(last, Stage) and method.prompt(tokenize(ex, run.tokenizer)).tokens \
        == tok.encode(" 3 * 4 ") + [eos]


def test_an_imported_model_is_captured_and_analysed(tmp_path, capsys, base_dir):
    """Capture and the analyses run on an imported Coconut, on Coconut's own ProsQA file."""
    model = resized(GPT2LMHeadModel.from_pretrained(base_dir, local_files_only=True), 3)
    torch.save({f"base_causallm.{k}": v for k, v in model.state_dict().items()},
               tmp_path / "checkpoint_6")
    run = tmp_path / "run"
    assert imported(capsys, str(tmp_path / "checkpoint_6"), "--format", "coconut", "--base",
                    str(base_dir), "--out", str(run), "--task", "prosqa", "--option",
                    "max_latent_stage=6")[0] == 0
    data = tmp_path / "prosqa.json"
    data.write_text(json.dumps(first_prosqa(10)))
    assert main(["capture", str(run), "--data", str(data), "--out", str(run / "store"),
                 "--quiet"]) == 0
    from workbench.store import open_store

    store = open_store(run / "store")
    assert len(store.examples) == 10 and store.n_layers == 2
    assert sorted(set(store.column("step").tolist())) == list(range(6))
    out = run / "analyses"
    for args in (["alignment"], ["probes", "--target", "y_proof_node"],
                 ["projections", "--method", "pca"], ["lens", "--run", str(run)]):
        assert main(["analyze", args[0], str(run / "store"), "--out", str(out), *args[1:]]) == 0
    assert main(["analyze", "interventions", str(run / "store"), "--out", str(out), "--limit",
                 "2", "--kinds", "zero", "--quiet"]) == 0
    alignment = json.loads((out / "alignment.json").read_text())
    assert alignment["latent_steps"] == list(range(6)) and alignment["key"] == "node"
    from app.data import find_runs

    assert "run" in find_runs(tmp_path)


def test_a_rim_fine_tune_of_an_imported_gpt2_runs_resumes_and_evaluates(tmp_path, capsys):
    """``lwb train --init-from`` an imported GPT-2: the run keeps its BPE tokenizer (plus RiM's
    tokens) and shape, starts from its weights, resumes bit for bit after a SIGKILL and
    evaluates."""
    import signal
    import subprocess
    import sys
    import time

    src = tmp_path / "hf"
    tiny_gpt2(tiny_tokenizer(src)).save_pretrained(src)
    assert imported(capsys, str(src), "--out", str(tmp_path / "gpt2"))[0] == 0

    def argv(out, *extra):
        return ["train", "--task", "reach", "--preset", "tiny", "--method", "rim", "--init-from",
                str(tmp_path / "gpt2"), "--steps", "40", "--batch-size", "4", "--lr", "1e-3",
                "--threads", "1", "--checkpoint-every", "4", "--eval-every", "20",
                "--latency-examples", "2", "--quiet", "--out", str(out), *extra]

    assert main(argv(tmp_path / "reference")) == 0
    proc = subprocess.Popen([sys.executable, "-m", "lwb.cli", *argv(tmp_path / "killed")],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    pointer = tmp_path / "killed" / "checkpoints" / "latest.json"
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        if pointer.exists() and json.loads(pointer.read_text())["step"] >= 8:
            proc.send_signal(signal.SIGKILL)
            break
        time.sleep(0.02)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, proc.stderr.read()
    assert main(argv(tmp_path / "killed", "--resume")) == 0
    a = safetensors.torch.load_file(tmp_path / "reference" / "model.safetensors")
    b = safetensors.torch.load_file(tmp_path / "killed" / "model.safetensors")
    assert all(torch.equal(a[k], b[k]) for k in a)
    from workbench.runs import load_run

    run, base = load_run(tmp_path / "killed"), load_run(tmp_path / "gpt2")
    assert run.tokenizer.encode("Alex is a yumpus.") == base.tokenizer.encode("Alex is a yumpus.")
    assert run.tokenizer.id("<m>") >= len(base.tokenizer)  # RiM's tokens appended
    assert run.config["model"]["d_model"] == 32 and run.config["init"]["method"] == "nocot"
    assert run.config["train"]["size"] == "imported"
    before = base.model.state_dict()["blocks.0.attn.W_Q"]
    assert not torch.equal(a["blocks.0.attn.W_Q"], before)  # trained from it
    capsys.readouterr()
    data = tmp_path / "test.jsonl"
    assert main(["data", "generate", "--task", "reach", "--preset", "tiny", "--split", "test",
                 "--out", str(data)]) == 0
    assert main(["eval", str(tmp_path / "killed"), "--data", str(data), "--out",
                 str(tmp_path / "eval.json")]) == 0
    result = json.loads((tmp_path / "eval.json").read_text())
    assert result["n"] == 16 and 0.0 <= result["accuracy"] <= 1.0


def _hf(tmp_path):
    src = tmp_path / "hf"
    model = tiny_gpt2(tiny_tokenizer(src))
    model.save_pretrained(src)
    return src, []


def _icot(tmp_path, base_dir):
    src = tmp_path / "icot"
    src.mkdir()
    model = GPT2LMHeadModel.from_pretrained(base_dir, local_files_only=True)
    torch.save({f"base_model.{k}": v for k, v in model.state_dict().items()},
               src / "state_dict.bin")
    return src, ["--base", str(base_dir), "--option", "max_cot_tokens=8"]


def _codi(tmp_path, base_dir):
    codi_checkpoint(base_dir, tmp_path / "codi")
    return tmp_path / "codi", ["--base", str(base_dir), "--option", "thoughts=3"]


@pytest.mark.parametrize("fmt", ["hf", "icot", "codi"])
def test_every_format_is_captured_and_analysed_on_reach(fmt, tmp_path, capsys, base_dir):
    """hf, iCoT and CODI imports through capture and every analysis (Coconut's: above, on
    ProsQA), on the reach task's tiny test split."""
    src, extra = _hf(tmp_path) if fmt == "hf" else (
        _icot(tmp_path, base_dir) if fmt == "icot" else _codi(tmp_path, base_dir))
    run = tmp_path / "run"
    assert imported(capsys, str(src), "--format", fmt, "--out", str(run), "--task", "reach",
                    *extra)[0] == 0
    data = tmp_path / "test.jsonl"
    assert main(["data", "generate", "--task", "reach", "--preset", "tiny", "--split", "test",
                 "--n", "12", "--out", str(data)]) == 0
    assert main(["capture", str(run), "--data", str(data), "--out", str(run / "store"),
                 "--quiet"]) == 0
    out = run / "analyses"
    for args in (["alignment"], ["probes", "--target", "y_proof_node"],
                 ["projections", "--method", "pca"], ["lens", "--run", str(run)]):
        assert main(["analyze", args[0], str(run / "store"), "--out", str(out), *args[1:]]) == 0
    if fmt == "codi":  # a latent method: its thoughts are intervened on
        assert main(["analyze", "interventions", str(run / "store"), "--out", str(out),
                     "--limit", "2", "--kinds", "zero", "--quiet"]) == 0
        steps = json.loads((out / "interventions.json").read_text())["steps"]
        assert steps == 3
    from workbench.store import open_store

    store = open_store(run / "store")
    assert len(store.examples) == 12
    # the rollout of the method the format runs: one answer position (hf → no-CoT, iCoT) or
    # CODI's three thoughts, for every example
    kind, steps = {"hf": ("answer", 1), "icot": ("answer", 1), "codi": ("thought", 3)}[fmt]
    assert set(store.column("kind").tolist()) == {kind}
    assert len(store.column("step")) == 12 * steps
    alignment = json.loads((out / "alignment.json").read_text())
    assert alignment["latent_steps"] == list(range(steps)) and alignment["key"] == "node"


def test_every_format_has_a_layout_and_a_method(capsys):
    from workbench.imports import FORMATS
    from workbench.imports.formats import LAYOUTS
    from workbench.methods import METHODS

    assert set(LAYOUTS) == set(FORMATS)
    for fmt in FORMATS:  # exactly one method runs each format by default
        assert sum(fmt in cls.import_formats for cls in METHODS.values()) == 1
    with pytest.raises(SystemExit) as e:  # the command line offers only these
        main(["import", "x", "--format", "gguf", "--out", "y"])
    assert e.value.code == 2 and "invalid choice: 'gguf'" in capsys.readouterr().err


def test_an_imported_codi_writes_its_student_sequence(tmp_path, capsys, base_dir):
    """CODI's student: question, begin-of-thought, N thoughts, end-of-thought, "The answer is:
    A", eos (its ids 50258/50259 are the two rows past [PAD])."""
    codi_checkpoint(base_dir, tmp_path / "codi")
    assert imported(capsys, str(tmp_path / "codi"), "--format", "codi", "--base", str(base_dir),
                    "--option", "thoughts=6", "--out", str(tmp_path / "run"))[0] == 0
    import random

    from workbench.methods import method_of
    from workbench.methods.base import Stage, tokenize
    from workbench.runs import load_run

    run = load_run(tmp_path / "run")
    method = method_of(run)
    tok = original_tokenizer(base_dir)
    pad = len(tok)  # CODI: [PAD] = the original vocabulary size, bot = +1, eot = +2
    ex = {"id": "g", "question": "Alex is a yumpus.", "steps": ["<<2*3=6>>"], "answer": "18"}
    got = method.encode(tokenize(ex, run.tokenizer), Stage(0, "train", 0, 1), 0,
                        random.Random(0)).tokens
    q = tok.encode("Alex is a yumpus.")
    assert got == (q + [pad + 1] + [got[len(q) + 1]] * 6 + [pad + 2]
                   + tok.encode("The answer is: 18") + [tok.eos_token_id])
