"""Interventions: accuracy change per latent step and intervention kind."""

import streamlit as st

from app import blocks, common

st.title("Interventions")
root = common.runs_root()
name, run = common.pick_run(root, common.need_runs(root))
if not common.not_applicable(run, "interventions"):
    blocks.show_interventions(run, "interventions")
common.footer()
