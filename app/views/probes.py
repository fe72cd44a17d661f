"""Probes: the layer × step probe heatmap with CIs, control and selectivity; the alignment
matrix; the BFS frontier of graph tasks; the correctness probe's AUROC per block."""

import streamlit as st

from app import blocks, common

st.title("Probes")
root = common.runs_root()
name, run = common.pick_run(root, common.need_runs(root))

st.header("Linear probes (layer × latent step)")
blocks.show_probes(run, "probes")
st.header("Alignment: latent step × proof step")
blocks.show_alignment(run, "probes")
if common.applies(run, "frontier"):  # the task declares a graph
    st.header("BFS frontier")
    blocks.show_frontier(run, "probes")
if common.applies(run, "readouts"):  # the correctness probe reads readouts: RiM only
    st.header("Correctness probe (RiM)")
    blocks.show_correctness(run, "probes")
common.footer()
