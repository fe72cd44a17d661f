import json
import pickle
import re
from pathlib import Path

import pytest

from workbench.errors import UserError
from workbench.tasks import TASKS, generate_split, get_task, task_tokenizer
from workbench.tasks.loaders import load_examples
from workbench.tokenizer import (
    SPECIAL_TOKENS,
    Tokenizer,
    _pre_tokenizer,
    join_words,
    split_words,
)

REPO = Path(__file__).resolve().parents[1]


def test_split_words_separates_punctuation_specials_and_gsm_expressions():
    assert split_words("Every wumpus is a yumpus.") == ["Every", "wumpus", "is", "a", "yumpus", "."]
    assert split_words("<<a+4=17>>") == ["<<", "a", "+", "4", "=", "17", ">>"]
    assert split_words("<bos> Tom <m></b>") == ["<bos>", "Tom", "<m>", "</b>"]


@pytest.mark.parametrize(
    "text",
    ["Every wumpus is a yumpus.", "Is Tom a lempus or scrompus?", "<<a+4=7>> <<c*2=14>>",
     "b = 5. c = b + 4. What is c?", "5 6 3 2 * 7 4 3 4", "0 4 6 ( 5 3 1 )"],
)
def test_join_words_inverts_split_words_on_canonical_text(text):
    assert join_words(split_words(text)) == text


def test_vocabulary_is_deterministic_with_specials_first_and_pad_zero():
    a, b = Tokenizer(["zeta", "alpha", "beta"]), Tokenizer(["beta", "zeta", "alpha", "beta"])
    assert a.vocab == b.vocab == [*SPECIAL_TOKENS, "alpha", "beta", "zeta"]
    assert a.pad_id == 0


def test_encode_decode_round_trip_and_ids_follow_vocab():
    tok = Tokenizer(["Tom", "is", "a", "wumpus", "."])
    ids = tok.encode("Tom is a wumpus.")
    assert [tok.vocab[i] for i in ids] == ["Tom", "is", "a", "wumpus", "."]
    assert tok.decode(ids) == "Tom is a wumpus."
    with_specials = [tok.id("<bos>"), *ids, tok.id("<eos>")]
    assert tok.decode(with_specials, skip_special=True) == "Tom is a wumpus."


def test_unknown_word_is_a_user_error_naming_it():
    tok = Tokenizer(["Tom", "is", "a"])
    with pytest.raises(UserError, match="unknown token 'wumpus'"):
        tok.encode("Tom is a wumpus")


def test_task_tokenizer_covers_the_published_prosqa_files(prosqa_sample):
    tok = task_tokenizer("prosqa")
    for ex in load_examples(prosqa_sample):
        for text in [ex["question"], ex["answer"], *ex["steps"]]:
            assert tok.decode(tok.encode(text)) == text


def test_save_load_round_trip_and_corrupt_file(tmp_path):
    tok = task_tokenizer("prosqa")
    tok.save(tmp_path / "tokenizer.json")
    assert Tokenizer.load(tmp_path / "tokenizer.json") == tok
    data = json.loads((tmp_path / "tokenizer.json").read_text())
    data["vocab"] = data["vocab"][1:]
    (tmp_path / "bad.json").write_text(json.dumps(data))
    with pytest.raises(UserError, match="bad.json.*special tokens"):
        Tokenizer.load(tmp_path / "bad.json")
    (tmp_path / "garbage.json").write_text("{not json")
    with pytest.raises(UserError, match="garbage.json"):
        Tokenizer.load(tmp_path / "garbage.json")


# -- the tokenizers-library encoder gives the ids the regex + dict encoder gave -------------------

#: The word-level tokenizer as it was written before it ran on ``tokenizers`` (regex + dict):
#: the independent reference every id below is checked against.
REFERENCE_PATTERN = re.compile(r"<[a-z/]+>|<<|>>|[A-Za-z_]+|\d+|\S")


def reference_encode(vocab, text):
    index = {w: i for i, w in enumerate(vocab)}
    ids = []
    for w in REFERENCE_PATTERN.findall(text):
        if w not in index:
            raise KeyError(w)
        ids.append(index[w])
    return ids


def every_tasks_texts(prosqa_sample):
    """Texts of every task and preset (each split), the published ProsQA sample, and Coconut's
    whole ProsQA validation file where ``../shared`` has it (never required)."""
    out = {}
    for name, task in TASKS.items():
        texts = []
        for preset in task.presets:
            for split in ("train", "valid", "test"):
                for ex in generate_split(task, preset, split, 60, 0):
                    texts += [ex["question"], ex["answer"], *ex["steps"]]
        out[name] = texts
    files = [prosqa_sample, REPO.parent / "shared" / "data" / "prosqa_valid.json"]
    out["prosqa"] += [t for f in files if f.exists() for ex in load_examples(f)
                      for t in (ex["question"], ex["answer"], *ex["steps"])]
    return out


def test_every_tasks_texts_get_the_reference_ids_and_decode_back(prosqa_sample):
    for name, texts in every_tasks_texts(prosqa_sample).items():
        tok = task_tokenizer(name)
        assert len(texts) > 2000
        for text in texts:
            ids = tok.encode(text)
            assert ids == reference_encode(tok.vocab, text), (name, text)
            assert tok.decode(ids) == join_words(REFERENCE_PATTERN.findall(text)) == text


def test_saved_tokenizers_of_the_zoo_load_and_encode_as_before():
    """Every committed run's tokenizer.json (format 1) loads unchanged, saves back byte for byte,
    and gives its task's texts the ids the regex + dict tokenizer gave."""
    files = sorted((REPO / "zoo").glob("*/tokenizer.json"))
    assert files
    for f in files:
        tok = Tokenizer.load(f)
        assert tok.to_json() + "\n" == f.read_text()
        task = get_task(tok.name)
        for ex in generate_split(task, "demo", "test", 20, 1):
            for text in (ex["question"], ex["answer"], *ex["steps"]):
                assert tok.encode(text) == reference_encode(tok.vocab, text), (f, text)


def test_the_pre_tokenizer_splits_every_character_as_python_re():
    """``tokenizers``' regex engine has its own Unicode tables (``\\x1c`` is no space to it, nor
    are digits added after Python's Unicode version): every code point of planes 0 and 1, and
    every 97th beyond, between letters, digits and a special token, splits as ``re`` does."""
    codes = [c for c in range(0x20000) if not 0xD800 <= c <= 0xDFFF]
    codes += range(0x20000, 0x110000, 97)
    for i in range(0, len(codes), 8192):
        text = "".join(f" x{chr(c)}1{chr(c)}<a>{chr(c)}" for c in codes[i:i + 8192])
        words = [w for w, _ in _pre_tokenizer().pre_tokenize_str(text)]
        assert words == REFERENCE_PATTERN.findall(text)


def test_odd_texts_and_unknown_words_behave_as_the_reference():
    words = ["Tom", "is", "a", "wumpus", ".", "<<", ">>", "7", "+", "x_y", "é", "٣٤"]
    tok = Tokenizer(words, name="odd")
    for text in ["", "   ", "Tom\tis\n a  wumpus .", "<<7+7>>", "<<<bos>>>", "x_yé٣٤ Tom",
                 "<<x_y>>٣٤ 7", "\x1cTom\u3000is\x85a"]:
        assert tok.encode(text) == reference_encode(tok.vocab, text), text
    for text, unknown in [("Tom is a yumpus.", "yumpus"), ("Tom ü", "ü"), ("<<8>>", "8"),
                          ("Tom <unk>", "<unk>"), ("٣٤7", "٣٤7"),
                          ("Tom  unknown word ", "unknown")]:  # never the model's unknown token
        with pytest.raises(UserError) as e:
            tok.encode(text)
        assert str(e.value) == f"unknown token {unknown!r} (not in the odd vocabulary)"
    # the tokenizers object is derived, not pickled: a copy encodes the same
    copy = pickle.loads(pickle.dumps(tok))
    assert "hf" not in copy.__dict__ and copy.encode("Tom is a wumpus.") == [
        tok.id(w) for w in ["Tom", "is", "a", "wumpus", "."]]
