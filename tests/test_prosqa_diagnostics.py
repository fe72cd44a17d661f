"""experiments/prosqa_cot_diagnostics.py counts what the ProsQA discussion quotes."""

import importlib.util
from pathlib import Path

SCRIPT = Path(__file__).resolve().parent.parent / "experiments" / "prosqa_cot_diagnostics.py"


def load():
    spec = importlib.util.spec_from_file_location("prosqa_cot_diagnostics", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_diagnose_counts_facts_first_steps_and_options():
    example = {"question": "Every wumpus is a yumpus. Every yumpus is a zumpus. Tom is a wumpus. "
                           "Every rempus is a bompus. Is Tom a zumpus or bompus?",
               "steps": ["Tom is a wumpus.", "Every wumpus is a yumpus.",
                         "Every yumpus is a zumpus."],
               "answer": "Tom is a zumpus."}
    texts = [
        # right: every step a fact, first step gold
        "Tom is a wumpus. <sep> Every wumpus is a yumpus. <sep> Every yumpus is a zumpus. <sep> "
        "<ans> Tom is a zumpus. <eos>",
        # an invented edge, wrong first step, an option but the wrong one
        "Tom is a rempus. <sep> Every rempus is a bompus. <sep> <ans> Tom is a bompus. <eos>",
        # neither option
        "Tom is a wumpus. <sep> Every wumpus is a grimpus. <sep> <ans> Tom is a grimpus. <eos>",
    ]
    answers = ["Tom is a zumpus.", "Tom is a bompus.", "Tom is a grimpus."]
    d = load().diagnose([example] * 3, texts, answers)
    assert d["steps"] == 7
    assert d["steps_in_question"] == 3 + 1 + 1
    assert d["first_step_gold"] == 2
    assert d["answer_is_an_option"] == 2
    assert d["correct"] == 1
    assert abs(d["steps_in_question_rate"] - 5 / 7) < 1e-12
