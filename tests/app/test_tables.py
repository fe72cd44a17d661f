"""Tables show an undefined value as "–" with a note, never "None" or "nan" (issue 22)."""

import sys

import pyarrow as pa
from streamlit.testing.v1 import AppTest


def script():
    import pandas as pd

    from app import common

    common.table(pd.DataFrame({"answer": ["any_block", "final_block"],
                               "accuracy": [None, 0.5]}), "selection")
    common.table(pd.DataFrame({"layer": [0, 1], "value": [0.25, 0.75]}), "complete")


def displayed(element) -> list[list[str]]:
    """The cells as the page sends them to the browser (the grid draws a null as "None", so
    no null may be sent)."""
    table = pa.ipc.open_stream(element.proto.arrow_data.data).read_all()
    return [[str(v) for k, v in row.items() if not k.startswith("__index")]
            for row in table.to_pylist()]


def test_undefined_cells_read_a_dash_with_a_note_and_the_data_stays_missing(monkeypatch):
    # AppTest runs the script as __main__; restored afterwards, so that a later test's spawned
    # worker processes do not try to run this script as their main module
    monkeypatch.setitem(sys.modules, "__main__", sys.modules["__main__"])
    at = AppTest.from_function(script).run()
    assert not at.exception
    first, second = at.dataframe
    assert displayed(first) == [["any_block", "–"], ["final_block", "0.5"]]
    notes = [c.value for c in at.caption]
    assert len(notes) == 1 and notes[0].startswith("–: not defined")
    # a table without undefined values is shown as it is (numbers stay numbers), no note
    assert second.value["value"].tolist() == [0.25, 0.75]


def test_the_shown_frame_formats_as_the_column_asks_and_leaves_the_data_alone():
    import pandas as pd
    import streamlit as st

    from app.common import shown_frame

    df = pd.DataFrame({"run": ["a", "b", "c"], "accuracy": [0.5091, None, float("nan")],
                       "seed": pd.array([0, None, 2], dtype="Int64"), "n": [1, 2, 3]})
    shown = shown_frame(df, {"accuracy": st.column_config.NumberColumn(format="%.3f")})
    assert shown["accuracy"].tolist() == ["0.509", "–", "–"]
    assert shown["seed"].tolist() == ["0", "–", "2"]
    assert shown["n"].tolist() == [1, 2, 3] and shown["run"].tolist() == ["a", "b", "c"]
    assert df["accuracy"].isna().tolist() == [False, True, True]  # the CSV's data: unchanged
    complete = df[["run", "n"]]
    assert shown_frame(complete) is complete  # nothing undefined: shown as it is, no copy
