import gc
import threading

from storage.gcpolicy import BULK_THRESHOLD, bulk_json


def test_thresholds_are_relaxed_during_a_run_and_restored_after_the_last_one() -> None:
    before = gc.get_threshold()
    entered, leave = threading.Event(), threading.Event()

    def other_run() -> None:
        with bulk_json():
            entered.set()
            leave.wait(10)

    with bulk_json():
        assert gc.get_threshold()[0] == BULK_THRESHOLD
        assert gc.get_freeze_count() > 0  # what existed before the run is out of the collector's way
        thread = threading.Thread(target=other_run)
        thread.start()
        assert entered.wait(10)
    # The other run is still going: its settings stay.
    assert gc.get_threshold()[0] == BULK_THRESHOLD
    leave.set()
    thread.join(10)
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0


def test_settings_are_restored_when_the_run_fails() -> None:
    before = gc.get_threshold()
    try:
        with bulk_json():
            raise RuntimeError("boom")
    except RuntimeError:
        pass
    assert gc.get_threshold() == before
