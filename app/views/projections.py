"""Projections: PCA/UMAP scatter of latent states coloured by step, proof label or correctness,
with one example's trajectory drawn as a line. Precomputed projections are only read (UMAP is
never fitted on a click); PCA of a small store may be computed now through the projections
analysis's cache."""

import streamlit as st

from app import blocks, common
from app import data as browse

FIG_KEY = "fig-projection"

st.title("Projections")
root = common.runs_root()
name, run = common.pick_run(root, common.need_runs(root))
source = st.sidebar.radio("projection", ["precomputed (analyses/projections.parquet)",
                                         "PCA now (small stores, cached)"], key="proj_source")

with common.shown():
    if source.startswith("precomputed"):
        df = common.analysis(run, "projections.parquet")
        meta = {}
        with common.shown():
            meta = common.analysis(run, "projections.json")
        method = str(meta.get("method", "projection")).upper()
        layer, kind = meta.get("layer", "?"), meta.get("kind", "?")
        explained = meta.get("explained_variance_ratio") or []
        if "z" in df.columns:
            three = st.sidebar.toggle("3D", key="proj_3d")
        else:
            three = False
            st.sidebar.caption("a 2D projection (`--n-components 3` makes a 3D one)")
    else:
        store = common.store(run)
        kinds = browse.kinds_of(store)
        kind = st.sidebar.selectbox("latent-step kind", kinds, key="proj_kind")
        layer = st.sidebar.slider("layer", 0, store.n_layers, store.n_layers, key="proj_layer")
        three = st.sidebar.toggle("3D", key="proj_3d")
        df, explained = blocks.pca(run, layer, kind, 3 if three else 2)
        method = "PCA"
    if not three:
        df = df.drop(columns=[c for c in ("z",) if c in df.columns])

    colours = ["step"] + [c for c in df.columns if c.startswith("y_") and c not in
                          ("y_task", "y_answer")]
    color = st.sidebar.selectbox("colour by", colours, key="proj_color")
    ids = sorted(df["example_id"].unique().tolist())
    clicked = blocks.clicked_example(st.session_state.get(FIG_KEY))
    if clicked in ids and clicked != st.session_state.get("_clicked"):
        st.session_state["example"] = clicked
        st.session_state["_clicked"] = clicked
    example = common.pick_example(ids)
    st.sidebar.caption("click a point to choose its example")

    axes = ([f"PC {i + 1} ({100 * v:.1f} % of variance)" for i, v in enumerate(explained)]
            if len(explained) else [f"{method} {i + 1}" for i in range(3)])
    title = f"{method} of {name} {kind} states at layer {layer}; line: {example}"
    fig = blocks.projection_figure(df, color, title, axes, example)
    common.figure(fig, "projection", on_select="rerun", selection_mode="points")
    path = df[df["example_id"] == example].sort_values("step")
    st.markdown(f"**{example}**: {len(path)} states; labels along its path:")
    common.table(path.drop(columns=[c for c in ("x", "y", "z") if c in path.columns]),
                 "projection-example")
common.footer()
