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

#: The pages in the sidebar, each at its own URL (``/runs``, ``/probes?run=NAME``…). No icons:
#: Streamlit fetches Material icons from an outside host, which an offline machine cannot reach.
PAGES = [
    st.Page("views/runs.py", title="Runs", url_path="runs"),
    st.Page("views/trajectories.py", title="Trajectory browser", url_path="trajectories"),
    st.Page("views/probes.py", title="Probes", url_path="probes"),
    st.Page("views/projections.py", title="Projections", url_path="projections"),
    st.Page("views/interventions.py", title="Interventions", url_path="interventions"),
    st.Page("views/compare.py", title="Compare", url_path="compare"),
]
#: The root URL shows the Runs page too. Streamlit serves its default page at ``/`` only (its
#: own ``url_path`` then answers "Page not found"), so the default is this hidden twin and the
#: visible Runs page keeps ``/runs``.
HOME = st.Page("views/runs.py", title="Runs", url_path="home", default=True,
               visibility="hidden")

st.sidebar.markdown("**Latent Workbench**")
st.navigation([HOME, *PAGES]).run()
