import json

import pytest

from workbench.errors import UserError
from workbench.tasks import task_tokenizer
from workbench.tasks.loaders import load_examples
from workbench.tokenizer import SPECIAL_TOKENS, Tokenizer, join_words, split_words


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
