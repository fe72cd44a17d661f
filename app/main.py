"""The Latent Workbench app: ``lwb app [--runs DIR]`` or
``streamlit run app/main.py -- --runs DIR``.

One file per page under ``app/views/`` (not ``pages/``: Streamlit runs a ``pages/`` directory
beside the entry script in its legacy multipage mode for the first visitor, ignoring
``st.navigation``). Every page reads the runs root through :mod:`app.data` and never
trains.
"""

import streamlit as st

from app import common

st.set_page_config(page_title="Latent Workbench", layout="wide")
common.warm_up()

PAGES = [
    st.Page("views/runs.py", title="Runs", icon=":material/table_view:", url_path="runs",
            default=True),
    st.Page("views/trajectories.py", title="Trajectory browser", icon=":material/route:",
            url_path="trajectories"),
    st.Page("views/probes.py", title="Probes", icon=":material/grid_on:", url_path="probes"),
    st.Page("views/projections.py", title="Projections", icon=":material/scatter_plot:",
            url_path="projections"),
    st.Page("views/interventions.py", title="Interventions", icon=":material/content_cut:",
            url_path="interventions"),
    st.Page("views/compare.py", title="Compare", icon=":material/compare:",
            url_path="compare"),
]

st.sidebar.markdown("**Latent Workbench**")
st.navigation(PAGES).run()
