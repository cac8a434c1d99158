"""metadata_table: the captions and figures tables the Dagster UI shows, typed so they sort."""

import numpy as np
import pytest

from recap_dagster.metadata import metadata_table


def test_columns_are_typed_by_their_cells() -> None:
    table = metadata_table(
        ["key", "share", "images", "kept", "shares", "mixed"],
        [
            ["000001", 0.5, 8, True, {"long": 0.95, "original": 0.05}, 1],
            ["000002", np.float64(0.25), np.int64(4), False, {"original": 1.0}, "a"],
        ],
    )
    assert {column.name: column.type for column in table.schema.columns} == {
        "key": "string",
        "share": "float",
        "images": "int",
        "kept": "bool",
        "shares": "string",
        "mixed": "string",  # an int and a text: the column is text, each cell as written
    }
    first, second = (record.data for record in table.records)
    assert first == {
        "key": "000001",
        "share": 0.5,
        "images": 8,
        "kept": True,
        "shares": '{"long": 0.95, "original": 0.05}',
        "mixed": "1",
    }
    assert second["share"] == 0.25 and type(second["images"]) is int and second["mixed"] == "a"


def test_empty_cells_text_on_one_line_and_ints_among_floats() -> None:
    table = metadata_table(
        ["caption", "minutes", "score"],
        [["a red\ncircle |  left", 1, None], [None, 2.5, float("nan")]],
    )
    assert [column.type for column in table.schema.columns] == ["string", "float", "string"]
    assert [record.data for record in table.records] == [
        {"caption": "a red circle | left", "minutes": 1, "score": None},
        {"caption": None, "minutes": 2.5, "score": None},  # NaN is an empty cell, not "nan"
    ]


def test_an_empty_table_keeps_its_columns() -> None:
    table = metadata_table(["key", "caption"], [])
    assert table.records == [] and [column.name for column in table.schema.columns] == ["key", "caption"]


def test_a_row_of_the_wrong_width_or_a_repeated_column_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match=r"2 cells for 3 columns \['key', 'short', 'long'\]"):
        metadata_table(["key", "short", "long"], [["000001", "a red circle"]])
    with pytest.raises(ValueError, match="column names repeat"):
        metadata_table(["key", "key"], [["a", "b"]])
