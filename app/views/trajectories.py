"""Trajectory browser: one run, one example: the problem, the latent steps through the logit
lens, the readouts, step-to-step similarity and the answer."""

import streamlit as st

from app import blocks, common
from app import data as browse

st.title("Trajectory browser")
root = common.runs_root()
name, run = common.pick_run(root, common.need_runs(root))
with common.shown():
    store = common.store(run)
    examples, steps = common.frames(run)
    only_wrong = st.sidebar.toggle("only wrong answers", key="only_wrong")
    shown = examples[~examples["correct"].astype(bool)] if only_wrong else examples
    if not len(shown):
        st.info(f"{name}: every example is answered correctly; nothing to show with "
                "'only wrong answers'")
    else:
        example_id = common.pick_example(shown["example_id"].tolist())
        example = examples[examples["example_id"] == example_id].iloc[0].to_dict()
        kind = common.pick("kind", browse.kinds_of(store), "latent-step kind")
        numbers = [str(int(s)) for s in browse.example_steps(steps, example_id, kind)["step"]]
        step = int(common.pick("step", numbers, "latent step (marked in the figures)")) \
            if numbers else None

        st.subheader(f"{name} · {example_id}")
        blocks.show_answer(example)
        # the problem at full width: a narrow column made node labels run into the next node
        blocks.show_problem(example, "problem")
        if common.applies(run, "readouts"):
            st.markdown("#### Readouts per memory block")
            blocks.show_readouts(steps, example_id, "trajectory")

        left, right = st.columns([3, 2])
        left.markdown("#### Latent steps through the logit lens")
        blocks.show_lens(run, steps, example_id, kind, "trajectory", left, step=step)
        right.markdown("#### Step-to-step cosine similarity")
        layer = right.slider("layer", 0, store.n_layers, store.n_layers, key="cosine_layer")
        blocks.show_cosine(run, steps, example_id, kind, layer, "trajectory", right, step=step)
common.footer()
