"""Compare: two runs side by side, on the same example and on the same analysis (chosen in
the page, ``?analysis=``)."""

import streamlit as st

from app import blocks, common
from app import data as browse

st.title("Compare")
root = common.runs_root()
runs = common.need_runs(root)
name_a, run_a = common.pick_run(root, runs, key="run", label="Run A")
if "run_b" not in st.session_state and len(runs) > 1:  # B starts as another run than A
    st.session_state["run_b"] = next(r for r in runs if r != name_a)
name_b, run_b = common.pick_run(root, runs, key="run_b", label="Run B")

table = common.runs_table(root)
pair = table[table["run"].isin([name_a, name_b])].rename(columns=browse.RUN_COLUMNS)
common.table(pair, "compare-runs")

st.header("The same example")
with common.shown():
    examples_a, steps_a = common.frames(run_a)
    examples_b, steps_b = common.frames(run_b)
    both = [e for e in examples_a["example_id"] if e in set(examples_b["example_id"])]
    if not both:
        st.info(f"{name_a} and {name_b} share no example: capture both on the same test file "
                "(`lwb capture RUN --data TEST.jsonl --out RUN/store`)")
    else:
        example_id = common.pick_example(both)
        example = examples_a[examples_a["example_id"] == example_id].iloc[0].to_dict()
        blocks.show_problem(example, "compare")
        for (side, name, run, examples, steps), col in zip(
                (("A", name_a, run_a, examples_a, steps_a),
                 ("B", name_b, run_b, examples_b, steps_b)), st.columns(2)):
            col.subheader(f"{side}: {name}")
            key = f"{side}-{name}"
            blocks.show_answer(examples[examples["example_id"] == example_id].iloc[0].to_dict(),
                              col)
            kind = browse.kinds_of(common.store(run))[0]
            blocks.show_lens(run, steps, example_id, kind, key, col)
            if "y_readout_prediction" in steps.columns:
                blocks.show_readouts(steps, example_id, key, col)
            blocks.show_cosine(run, steps, example_id, kind, common.store(run).n_layers,
                              key, col)

st.header("The same analyses")
ANALYSES = {"Probes": (blocks.show_probes, None), "Alignment": (blocks.show_alignment, None),
            "Correctness probe": (blocks.show_correctness, "readouts"),
            "Interventions": (blocks.show_interventions, "interventions")}
sides = (("A", name_a, run_a), ("B", name_b, run_b))
# one analysis at a time (``?analysis=``): eight figures at once made the page slow to draw;
# an analysis neither run's method has is not offered
offered = [t for t, (_, section) in ANALYSES.items()
           if not section or any(common.applies(run, section) for _, _, run in sides)]
title = common.pick("analysis", offered, "analysis", st)
show, section = ANALYSES[title]
for (side, name, run), col in zip(sides, st.columns(2)):
    col.caption(f"{side}: {name}")
    if not (section and common.not_applicable(run, section, col)):
        show(run, f"{side}-{name}", col)
common.footer()
