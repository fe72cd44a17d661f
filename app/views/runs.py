"""Runs: every run of the root in a table, filters, and the efficiency and scaling charts."""

import pandas as pd
import streamlit as st

from app import common
from app import data as browse

st.title("Runs")
root = common.runs_root()
common.need_runs(root)
table = common.runs_table(root)

filters = st.columns(3)
for col, key in zip(filters, ("task", "method", "size")):
    values = sorted(v for v in table[key].dropna().unique())
    chosen = col.multiselect(key, values, default=values, key=f"filter-{key}")
    # Runs whose config does not say (a broken config.json) stay until a filter is narrowed.
    table = table[table[key].isin(chosen) | (table[key].isna() & (len(chosen) == len(values)))]

shown = table.drop(columns=["by_depth"]).rename(columns=browse.RUN_COLUMNS)
shown["seed"] = pd.to_numeric(shown["seed"], errors="coerce").astype("Int64")
shown["parameters"] = pd.to_numeric(shown["parameters"], errors="coerce").astype("Int64")
st.markdown(f"**{len(shown)} runs** under `{root}`")
common.table(shown, "runs", column_config={
    "accuracy": st.column_config.NumberColumn(format="%.3f"),
    "any-block accuracy": st.column_config.NumberColumn(format="%.3f"),
    "generated tokens": st.column_config.NumberColumn(format="%.2f"),
    "time to first token (ms)": st.column_config.NumberColumn(format="%.2f")})

rows = browse.compare_rows(table)
st.header("Accuracy by reasoning depth")
deep = [r for r in rows if r.get("by_depth")]
if not deep:
    st.info("no run among those shown has per-depth test metrics (tasks with a depth, such as "
            "reach and ProsQA, record them when `lwb train` evaluates)")
else:
    from analyses.compare import depth_figure

    common.figure(depth_figure(deep), "accuracy-by-depth")
    common.table(pd.DataFrame([
        {"run": r["run"], "method": r["method"], "depth": c["depth"], "accuracy": c["accuracy"],
         "95 % CI": (f"[{c['ci'][0]:.3f}, {c['ci'][1]:.3f}]" if c["ci"] else "–"), "n": c["n"]}
        for r in deep for c in r["by_depth"]]), "accuracy-by-depth-table")

st.header("Efficiency and scaling")
if not rows:
    st.info("no run with test metrics among those shown: finish `lwb train` (it evaluates on the "
            "test split) or run `lwb eval RUN --data TEST.jsonl`")
else:
    from analyses.compare import (
        efficiency,
        efficiency_figure,
        scaling_figure,
        scaling_fits,
        sizes_by_task,
        split_recipe,
    )

    recipe, off_recipe = split_recipe(rows)
    fits = scaling_fits(recipe, n_boot=200)
    common.figure(efficiency_figure(rows), "efficiency")
    common.table(pd.DataFrame(efficiency(rows)), "efficiency-table")
    sizes = sizes_by_task(recipe)
    single = {t: s for t, s in sizes.items() if len(s) < 2}
    if single:  # one size: no axis to scale along, no fit (methods differ by a few embeddings)
        st.info("Scaling needs runs of at least two model sizes per task; "
                + "; ".join(f"{t}: only {', '.join(s)}" for t, s in single.items())
                + " (train another with `lwb train … --size SIZE`)")
    if len(single) < len(sizes):
        common.figure(scaling_figure(recipe, fits), "scaling")
        if off_recipe:
            st.caption("Left out of the scaling fit (trained at a learning rate other than the "
                       "one most runs of their task and size have): "
                       + ", ".join(f"`{r['run']}` (lr {r['lr']})" for r in off_recipe))
        common.table(pd.DataFrame([f for f in fits if f["task"] not in single]),
                     "scaling-fits")

st.header("Saved comparison")
with common.shown():
    saved = common.compare_json(root)
    st.caption(f"`{root / browse.COMPARE / 'compare.json'}`: {len(saved.get('rows', []))} runs, "
               f"split {saved.get('split')}; {saved.get('fit', '')}")
    common.table(pd.DataFrame(saved.get("efficiency", [])), "saved-efficiency")
    common.table(pd.DataFrame(saved.get("fits", [])), "saved-fits")
common.footer()
