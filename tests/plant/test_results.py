"""What one test result is: its key, counted once whatever the exports repeat."""

from plant.results import RESULT_KEY, count_results


def test_the_same_key_counts_a_vehicles_stored_rows_once():
    stored = [
        {"NAME": "012001", "ID": 2, "VALUE_ID": 1.0, "DATA": "2024-05-16 06:00:00", "STATUS": 13},
        {"NAME": "012001", "ID": 2, "VALUE_ID": 2.0, "DATA": "2024-05-16 06:00:00", "STATUS": 10},
        # A retest of the same sub-result later is another result.
        {"NAME": "012001", "ID": 2, "VALUE_ID": 1.0, "DATA": "2024-05-16 06:30:00", "STATUS": 10},
    ]

    assert count_results(stored + stored[:2]) == (3, 1)
    assert set(RESULT_KEY) >= {"NAME", "VALUE_ID", "DATA"}
