"""Feature columns in the team's words, wherever a page names them."""

import pytest

from plant.columns import column_label

UNITS = {("SECTION_ZP5_00000011", 2): "Nm", ("012001", 1): "kg"}


@pytest.mark.parametrize(
    ("name", "label"),
    [
        ("value|SECTION_ZP5_00000011#2|3", "SECTION_ZP5_00000011 torque, screw 3, value"),
        ("min|SECTION_ZP5_00000011#2", "SECTION_ZP5_00000011 torque, lowest screw"),
        ("max|012001#1", "012001 weight, highest value"),
        ("mean|SECTION_ZP5_00000011#2", "SECTION_ZP5_00000011 torque, mean of its screws"),
        ("mean|012001#1", "012001 weight, mean of its values"),
        ("mean|SECTION_UNKNOWN#2", "SECTION_UNKNOWN, mean of its screws"),
        ("n_nok", "NOK results"),
    ],
)
def test_a_column_reads_in_the_teams_words(name, label):
    assert column_label(name, UNITS) == label
