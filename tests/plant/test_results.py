"""What one test result is: its key, counted once whatever the exports repeat."""

from plant.results import RESULT_KEY, count_results


def test_the_same_key_counts_a_vehicles_stored_rows_once():
    first = {
        "NAME": ["012001", "012001", "012001"],
        "ID": [2, 2, 2],
        "VALUE_ID": [1.0, 2.0, 1.0],  # a retest of the same sub-result later is another result
        "DATA": [1715839200000, 1715839200000, 1715841000000],
        "STATUS": [13, 10, 10],
    }
    overlapping = {name: values[:2] for name, values in first.items()}
    without_sub_results = {"NAME": ["042000"], "ID": [718], "DATA": [0], "STATUS": [13]}

    assert count_results([first, overlapping]) == (3, 1)
    assert count_results([first, without_sub_results, without_sub_results]) == (4, 2)
    assert set(RESULT_KEY) >= {"NAME", "VALUE_ID", "DATA"}
