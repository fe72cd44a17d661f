"""What every page shares: the runs root, cached loading, pickers, figures and tables with their
download buttons, and errors shown as messages (never as stack traces).

Data access goes through :mod:`app.data`; this module only adds Streamlit's caches
(``st.cache_resource`` for models and stores, ``st.cache_data`` keyed by path and modification
time for arrays and tables) and widgets.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import streamlit as st
from streamlit.runtime.scriptrunner_utils.exceptions import ScriptControlException

from app import data as browse
from workbench.errors import UserError

ROOT_ENV = "LWB_RUNS"


def runs_root() -> Path:
    """``--runs DIR`` after ``streamlit run app/main.py --``, else ``$LWB_RUNS``, else runs/."""
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--runs", default=None)
    args, _ = parser.parse_known_args(sys.argv[1:])
    return Path(args.runs or os.environ.get(ROOT_ENV) or "runs")


@st.cache_resource(show_spinner="loading the workbench…")
def warm_up() -> bool:
    """Import the libraries the pages use, once per server process (``lwb app`` triggers it
    before saying "ready"), so that no page waits for them."""
    import importlib

    for name in ("pandas", "plotly.graph_objects", "workbench.store", "workbench.runs",
                 "analyses.compare", "analyses.probes", "analyses.alignment",
                 "analyses.correctness", "analyses.projections", "analyses.lens",
                 "analyses.interventions", "datasets", "sklearn.decomposition"):
        importlib.import_module(name)
    return True


# -- errors as messages --------------------------------------------------------------------------
@contextmanager
def shown() -> Iterator[None]:
    """Run a section of a page; a missing artifact becomes an ``st.info`` naming the file and the
    command that makes it, a corrupt one an ``st.warning`` naming the file."""
    try:
        yield
    except browse.Missing as e:
        st.info(str(e))
    except UserError as e:
        st.warning(str(e))
    except Exception as e:  # a shape no schema foresaw: this section says so, the page goes on
        if isinstance(e, ScriptControlException):  # st.stop / st.rerun: Streamlit's control
            raise
        first = (str(e).splitlines() or [""])[0][:200]
        st.warning(f"this section could not be shown ({type(e).__name__}: {first})")


# -- cached loading ------------------------------------------------------------------------------
@st.cache_data(show_spinner=False)
def _runs_table(root: str, stamp: tuple[float, ...]) -> Any:
    return browse.runs_table(root)


def runs_table(root: Path) -> Any:
    runs = browse.find_runs(root)
    stamp = tuple(browse.mtime(root / r / f) for r in runs
                  for f in ("config.json", "metrics.json", "store", "analyses"))
    return _runs_table(str(root), (len(runs), *stamp))


@st.cache_data(show_spinner=False)
def _analysis(run: str, name: str, stamp: float) -> Any:
    return browse.read_analysis(Path(run), name)


@st.cache_resource(show_spinner=False, max_entries=16)
def _table(run: str, name: str, stamp: float) -> Any:
    return browse.read_analysis(Path(run), name)


def analysis(run: Path, name: str) -> Any:
    """``<run>/analyses/<name>`` (JSON or parquet), cached by path and modification time. A
    parquet table is held once (``cache_resource``: never copied or pickled per page, which cost
    more than reading it); pages filter it and never change it in place."""
    read = _table if name.endswith(".parquet") else _analysis
    return read(str(run), name, browse.mtime(browse.analysis_path(run, name)))


@st.cache_data(show_spinner=False)
def _compare(root: str, stamp: float) -> Any:
    return browse.read_compare(root)


def compare_json(root: Path) -> Any:
    return _compare(str(root), browse.mtime(root / browse.COMPARE / "compare.json"))


@st.cache_resource(show_spinner=False, max_entries=8)
def _store(run: str, stamp: float) -> Any:
    return browse.open_run_store(Path(run))


def store(run: Path) -> Any:
    """The run's trajectory store, opened once per modification of its manifest."""
    return _store(str(run), browse.mtime(run / browse.STORE / "manifest.json"))


@st.cache_data(show_spinner=False, max_entries=16)
def _frames(run: str, stamp: float) -> tuple[Any, Any]:
    opened = _store(run, stamp)
    return browse.examples_frame(opened), browse.steps_frame(opened)


def frames(run: Path) -> tuple[Any, Any]:
    """The store's examples and step rows (labels, no states) as DataFrames."""
    return _frames(str(run), browse.mtime(run / browse.STORE / "manifest.json"))


@st.cache_data(show_spinner=False, max_entries=64)
def _states(run: str, stamp: float, rows: tuple[int, ...]) -> Any:
    return _store(run, stamp).resid_all(list(rows)).astype("float32")


def states(run: Path, rows: Any) -> Any:
    """``[len(rows), n_layers+1, d_model]`` states of some store rows."""
    return _states(str(run), browse.mtime(run / browse.STORE / "manifest.json"),
                   tuple(int(r) for r in rows))


@st.cache_resource(show_spinner="loading the model…", max_entries=4)
def _model(run: str, stamp: float) -> Any:
    return browse.load_model(Path(run))


def model(run: Path) -> Any:
    """The run's model and tokenizer (``workbench.runs.load_run``), loaded once per checkpoint."""
    return _model(str(run), browse.mtime(run / "model.safetensors"))


# -- pickers -------------------------------------------------------------------------------------
# A choice lives in a plain session key ("run", "example", …), not in the widget's own state: a
# widget's state does not follow it from one page to the next, a plain key does. The widget is
# drawn with the remembered choice as its index.
def _from_url(key: str) -> str | None:
    """A query parameter's value when it is new (not the one the app itself wrote last)."""
    value = st.query_params.get(key)
    seen = f"_url_{key}"
    if value is None or st.session_state.get(seen) == value:
        return None
    st.session_state[seen] = value
    return value


def _to_url(key: str, value: str) -> None:
    st.session_state[f"_url_{key}"] = value
    st.query_params[key] = value


def _choose(key: str, options: list[str], label: str, where: Any, **kw: Any) -> str:
    if st.session_state.get(key) not in options:
        st.session_state[key] = options[0]
    chosen = where.selectbox(label, options, index=options.index(st.session_state[key]), **kw)
    st.session_state[key] = chosen
    _to_url(key, chosen)
    return chosen


def pick_run(root: Path, runs: list[str], key: str = "run", label: str = "Run",
             where: Any = None) -> tuple[str, Path]:
    """A run chosen in a selectbox (default: the URL's ``?run=``, resolved inside the root),
    remembered across pages and written back to the URL."""
    wanted = _from_url(key)
    if wanted is not None:
        try:
            browse.resolve_run(root, wanted)
            if wanted in runs:
                st.session_state[key] = wanted
            else:
                st.warning(f"run {wanted!r} is not listed under the runs root")
        except UserError as e:
            st.warning(f"{e}; showing another run instead")
    if st.session_state.get(key) not in runs:
        st.session_state[key] = browse.default_run(root, runs)
    name = _choose(key, runs, label, where or st.sidebar)
    run = browse.resolve_run(root, name)
    with shown():
        browse.check_config(run)
    return name, run


def pick(key: str, options: list[str], label: str, where: Any = None, **kw: Any) -> str:
    """A choice among ``options`` (default: the URL's ``?KEY=``), remembered across pages and
    written back to the URL, so that the view can be shared."""
    wanted = _from_url(key)
    if wanted is not None:
        if wanted in options:
            st.session_state[key] = wanted
        else:
            st.warning(f"{key} {wanted!r} is not among the choices ({', '.join(options)}); "
                       "showing another")
    return _choose(key, options, label, where or st.sidebar, **kw)


def _shift(key: str, ids: list[str], by: int) -> None:
    i = ids.index(st.session_state[key]) if st.session_state.get(key) in ids else 0
    st.session_state[key] = ids[(i + by) % len(ids)]


def pick_example(ids: list[str], key: str = "example", where: Any = None) -> str:
    """An example id chosen in a selectbox with previous/next buttons (default: ``?example=``)."""
    where = where or st.sidebar
    wanted = _from_url(key)
    if wanted is not None:
        if wanted in ids:
            st.session_state[key] = wanted
        else:
            st.warning(f"example {wanted!r} is not among the examples shown; showing another")
    left, right = where.columns(2)
    left.button("◀ previous", key=f"{key}_prev", on_click=_shift, args=(key, ids, -1),
                width="stretch")
    right.button("next ▶", key=f"{key}_next", on_click=_shift, args=(key, ids, 1),
                 width="stretch")
    return _choose(key, ids, "Example", where,
                   format_func=lambda e: f"{ids.index(e) + 1}/{len(ids)}: {e}")


# -- figures and tables, each with its download --------------------------------------------------
def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-") or "figure"


def figure(fig: Any, name: str, where: Any = None, **kw: Any) -> Any:
    """A plotly figure and a button downloading it as a self-contained HTML file."""
    where = where or st
    slug = _slug(name)
    out = where.plotly_chart(fig, key=f"fig-{slug}", theme=None, **kw)
    where.download_button("download figure (HTML)", key=f"dl-{slug}",
                          data=lambda: fig.to_html(include_plotlyjs=True, full_html=True),
                          file_name=f"{slug}.html", mime="text/html", on_click="ignore")
    return out


#: Sections a page shows only where the run's method or task declares them: section → (who
#: declares it, the attribute). RiM's readouts (the readout table, the correctness probe) come
#: from ``Method.readouts``; interventions from ``Method.latent`` (steps in the prompt to edit);
#: the BFS frontier from ``Task.frontier`` (graph tasks).
SECTIONS = {"readouts": ("method", "readouts"), "interventions": ("method", "latent"),
            "frontier": ("task", "frontier")}


def _declarer(run: Path, section: str) -> tuple[str, bool]:
    """The name of the run's method or task that declares ``section``, and whether it applies.
    A run whose config, method or task cannot be read counts as having it, so that the page
    shows the section with its own message (the broken config is reported elsewhere)."""
    from workbench.methods import METHODS
    from workbench.tasks import TASKS

    owner, attribute = SECTIONS[section]
    try:
        name = browse.check_config(run)[owner]["name"]
    except (UserError, KeyError, TypeError):
        return "?", True
    declared = (METHODS if owner == "method" else TASKS).get(name)
    return name, declared is None or bool(getattr(declared, attribute))


def applies(run: Path, section: str) -> bool:
    """Whether ``section`` applies to the run's method / task (:func:`_declarer`)."""
    return _declarer(run, section)[1]


def not_applicable(run: Path, section: str, where: Any = None) -> bool:
    """``True`` (after a one-line caption saying why) when ``section`` does not apply."""
    name, applied = _declarer(run, section)
    if applied:
        return False
    why = {"readouts": f"the {name} method has no readouts (RiM only)",
           "interventions": f"the {name} method has no latent steps in its prompt to edit",
           "frontier": f"the {name} task has no graph, so no BFS frontier"}[section]
    (where or st).caption(f"Not applicable: {why}.")
    return True


#: How a table shows a value that is not defined.
UNDEFINED_MARK = "–"


def _undefined(v: Any) -> bool:
    """None, NaN or pandas' NA (a list or array cell is defined)."""
    import pandas as pd

    return pd.api.types.is_scalar(v) and bool(pd.isna(v))


def _cell(v: Any, fmt: str | None) -> str:
    """One defined cell as the table shows it once its column has an undefined cell (the
    column's ``NumberColumn`` format where it has one, else 4 significant digits)."""
    if isinstance(v, float):
        return fmt % v if fmt and "%" in fmt else f"{v:.4g}"
    return str(v)


def shown_frame(df: Any, column_config: dict[str, Any] | None = None) -> Any:
    """The frame as a table shows it: every undefined cell reads "–". The browser's grid draws
    a null as "None" whatever a Styler says, so a column with an undefined cell is shown as
    text (its defined cells formatted as the column's config asks, else with 4 significant
    digits); complete columns keep their type (sorting, number formats)."""
    missing = [c for c in df.columns if any(_undefined(v) for v in df[c].tolist())]
    if not missing:
        return df
    shown = df.copy()
    for c in missing:
        fmt = ((column_config or {}).get(c) or {}).get("type_config", {}).get("format")
        shown[c] = [UNDEFINED_MARK if _undefined(v) else _cell(v, fmt) for v in df[c].tolist()]
    return shown


def table(df: Any, name: str, where: Any = None, folded: str | None = None, **kw: Any) -> None:
    """A table and a button downloading it as CSV (inside an expander titled ``folded``); an
    undefined value reads "–" with a note (:func:`shown_frame`), the CSV keeps it empty."""
    where = where or st
    if folded is not None:
        where = where.expander(folded)
    slug = _slug(name)
    shown = shown_frame(df, kw.get("column_config")) if hasattr(df, "columns") else df
    if shown is not df:
        where.caption(f"{UNDEFINED_MARK}: not defined (one class, too few examples, one size, "
                      "or not computed; a column `undefined` says which where the analysis "
                      "records it)")
    where.dataframe(shown, key=f"table-{slug}", **{"hide_index": True, **kw})
    where.download_button("download table (CSV)", key=f"dl-{slug}",
                          data=lambda: df.to_csv(index=False), file_name=f"{slug}.csv",
                          mime="text/csv", on_click="ignore")


def need_runs(root: Path) -> list[str]:
    """The root's runs; stops the page with a message when there are none."""
    st.sidebar.caption(f"runs root: `{root}`")
    try:
        runs = browse.find_runs(root)
    except UserError as e:
        st.warning(f"{e}: start the app with `lwb app --runs DIR`")
        st.stop()
    if not runs:
        st.info(f"no runs under {root} (a run is a directory holding config.json, at most "
                f"{browse.MAX_DEPTH} levels down): train one with `lwb train … --out {root}/NAME`")
        st.stop()
    return runs


FOOTER = "Latent Workbench: a read-only view of the runs root; nothing here trains."


def footer() -> None:
    """The last element of every page (the browser test waits for it)."""
    st.divider()
    st.caption(FOOTER)
