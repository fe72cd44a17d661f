"""Each task reads its own question: the drawing the app shows (``Task.problem``) and the words
of a proof step (``Task.proof_label``) come from the task's parser, checked against the
generator's own fields."""

import pytest

from workbench.errors import UserError
from workbench.tasks import TASKS
from workbench.tasks.base import generate_split


def examples(task, preset, n=20):
    return list(generate_split(TASKS[task], preset, "test", n, seed=5))


def test_chain_parses_back_the_program_and_labels_each_step():
    from workbench.tasks.chain import parse_question

    for ex in examples("chain", "demo"):
        statements, query = parse_question(ex["question"])
        assert [list(s) for s in statements] == ex["program"] and query == ex["query"]
        p = TASKS["chain"].problem(ex["question"], ex["proof"])
        assert p.path[-1] == ex["query"] and p.roles[ex["query"]] == "target"
        assert p.path_edges <= set(p.edges)
        last = ex["proof"][-1]
        assert TASKS["chain"].proof_label(last) == (
            f"{last['var']} = {last['src']} {last['op']} {last['arg']} = {ex['answer']}")
    assert TASKS["chain"].proof_label({"node": "x"}) is None


@pytest.mark.parametrize("preset", ["demo", "padded", "trees"])
def test_reach_draws_the_path_from_the_root_through_the_steps_to_the_answer(preset):
    for ex in examples("reach", preset):
        p = TASKS["reach"].problem(ex["question"], ex["proof"])
        assert p.path == [ex["root"], *ex["steps"], ex["answer"]]
        assert p.path_edges <= {tuple(e) for e in ex["edges"]} == set(p.edges)
        assert [TASKS["reach"].proof_label(r) for r in ex["proof"]] == ex["steps"]


def test_prosqa_reads_its_options_and_facts_once():
    from workbench.tasks.prosqa import choices, parse_question

    for ex in examples("prosqa", "demo", 10):
        graph = parse_question(ex["question"])
        assert list(graph.options) == choices(ex) and ex["answer"].split()[-1][:-1] in choices(ex)
        p = TASKS["prosqa"].problem(ex["question"], ex["proof"])
        hot = [s for s, on in p.statements if on]
        assert len(hot) == len(ex["steps"])  # one fact per proof step lies on the path
        labels = [TASKS["prosqa"].proof_label(r) for r in ex["proof"]]
        assert all(" → " in label for label in labels)


@pytest.mark.parametrize("task, question", [
    ("prosqa", "Every wumpus is a zumpus. Is Tom a wumpus?"),
    ("reach", "a b | c"),
])
def test_a_malformed_question_is_a_one_line_error_naming_the_question(task, question):
    with pytest.raises(UserError) as e:
        TASKS[task].problem(question, [])
    assert e.value.field == "question" and "\n" not in str(e.value)
