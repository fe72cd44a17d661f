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
    """The cells as the page shows them (the styler's display values)."""
    table = pa.ipc.open_stream(element.proto.arrow_data.styler.display_values).read_all()
    return [[str(v) for v in row.values()] for row in table.to_pylist()]


def test_undefined_cells_read_a_dash_with_a_note_and_the_data_stays_missing(monkeypatch):
    # AppTest runs the script as __main__; restored afterwards, so that a later test's spawned
    # worker processes do not try to run this script as their main module
    monkeypatch.setitem(sys.modules, "__main__", sys.modules["__main__"])
    at = AppTest.from_function(script).run()
    assert not at.exception
    first, second = at.dataframe
    assert displayed(first) == [["any_block", "–"], ["final_block", "0.5000"]]
    assert first.value["accuracy"].isna().tolist() == [True, False]  # the data stays missing
    notes = [c.value for c in at.caption]
    assert len(notes) == 1 and notes[0].startswith("–: not defined")
    # a table without undefined values is shown as it is, without the note
    assert not second.proto.arrow_data.HasField("styler")
