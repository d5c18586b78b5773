import pyarrow as pa
import pyarrow.compute as pc
import pytest

from crossline.domain import (
    FAIL_GROUPS,
    FAIL_KIND,
    KNR_PATTERN,
    KNR_RE,
    fail_group_label,
    fail_group_of,
    frame_codes,
    group_kind,
    kind_label,
    parse_framed_codes,
    parse_month,
)


def test_a_group_kind_names_its_fail_group_and_the_fail_kind_none():
    assert group_kind(9830946) == "group_9830946"
    assert fail_group_of(group_kind(4)) == 4
    assert fail_group_of(FAIL_KIND) is None


def test_framed_codes_read_back_as_the_sorted_unique_codes():
    assert frame_codes([4, 2, 4]) == ",2,4,"
    assert parse_framed_codes(frame_codes([137, 2])) == [2, 137]
    assert frame_codes([]) == "" and parse_framed_codes("") == []


@pytest.mark.parametrize(
    ("text", "month"),
    [("2024-02", (2024, 2)), (" 2024-12 ", (2024, 12)), ("2024-13", None), ("2024-2", None),
     ("٢٠٢٤-06", None)],
)
def test_a_month_is_read_only_as_yyyy_mm(text, month):
    assert parse_month(text) == month


KNRS = ["2024-0000001", "1999-9999999", "0000-0000000"]
NOT_KNRS = [
    "2024-000001",  # six digits after the dash
    "2024-12345678",  # eight
    "12345-1234567",  # a five-digit year
    "202-1234567",  # a three-digit year
    "24-1234567",
    "20241234567",  # no dash
    "2024--1234567",
    "2024_1234567",
    "2024-123456a",
    "2024-1234567-",
    " 2024-1234567",  # whitespace is not part of a KNR (readers and URLs strip it first)
    "2024-1234567 ",
    "2024-1234567\n",
    "2024 -1234567",
    "\uff12\uff10\uff12\uff14-\uff11\uff12\uff13\uff14\uff15\uff16\uff17",  # fullwidth
    "\u0662\u0660\u0662\u0664-1234567",  # Arabic-Indic digits
    "",
]


@pytest.mark.parametrize("text", KNRS)
def test_a_knr_is_four_digits_a_dash_and_seven_digits(text):
    assert KNR_RE.fullmatch(text)


@pytest.mark.parametrize("text", NOT_KNRS)
def test_anything_else_is_not_a_knr(text):
    assert KNR_RE.fullmatch(text) is None


def test_the_knr_pattern_means_the_same_to_the_readers_regex_engine():
    # The readers check KNRs with Arrow's (RE2) engine, URLs and forms with Python's.
    checked = pc.match_substring_regex(pa.array(KNRS + NOT_KNRS), f"^{KNR_PATTERN}$")
    assert checked.to_pylist() == [True] * len(KNRS) + [False] * len(NOT_KNRS)


def test_a_label_is_the_code_and_its_name_in_the_labels_given():
    labels = {**FAIL_GROUPS, 4: "Doors and hinges", 77: "Roof"}
    assert fail_group_label(4, labels) == "4 Doors and hinges"
    assert fail_group_label(5, FAIL_GROUPS) == f"5 {FAIL_GROUPS[5]}"
    assert fail_group_label("77", labels) == "77 Roof"
    assert fail_group_label(12345, labels) == "12345"
    assert kind_label("group_77", labels) == "77 Roof"
    assert kind_label(FAIL_KIND, labels) == "Any defect"
