"""The QA file beside a dataset (vla/data/qa_format.py): round trip, atomic write, clear errors."""

import pandas as pd
import pytest

from vla.data.qa_format import QA_COLUMNS, read_qa, write_qa


def _rows(split: str = "train") -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "episode_index": 0,
                "frame_index": 0,
                "type": "count",
                "split": split,
                "question": "how many cubes?",
                "answer": "3",
            }
        ]
    )


def test_rows_round_trip(tmp_path) -> None:
    (tmp_path / "meta").mkdir()
    write_qa(tmp_path, _rows())
    back = read_qa(tmp_path)
    assert list(back.columns) == list(QA_COLUMNS) and back.iloc[0]["answer"] == "3"
    assert not list((tmp_path / "meta").glob("*.tmp"))


def test_missing_file_and_bad_rows_are_named(tmp_path) -> None:
    with pytest.raises(FileNotFoundError, match="vla dataset qa"):
        read_qa(tmp_path)
    (tmp_path / "meta").mkdir()
    with pytest.raises(ValueError, match="split"):
        write_qa(tmp_path, _rows("val"))
    with pytest.raises(ValueError, match="lack columns"):
        write_qa(tmp_path, _rows().drop(columns=["answer"]))
