"""The pytest side of the contract check: every test using a watched Grafana sandbox is checked.

A fixture hands its sandbox to :func:`tests.contract.watch`; once the test body has passed, every
exchange in the sandbox's request log is checked against Grafana's API documents and a deviation
fails the test (one listed in ``pending``, awaiting its fix elsewhere, is a warning instead). Opt
out with ``@pytest.mark.no_contract("why")``. Without the documents (``../shared/specs``, absent
from a fresh clone) nothing is checked.
"""

from __future__ import annotations

import warnings
from collections.abc import Generator

import pytest

from sandbox.arduino import ArduinoSandbox
from tests.contract import WATCHED, arduino, spec
from tests.contract.arduino import check_arduino
from tests.contract.check import Deviation, check_records, report
from tests.contract.pending import pending


class PendingDeviation(pytest.PytestWarning):
    """A known deviation from Grafana's API documents whose fix is pending (``tests.contract.pending``)."""


def pytest_configure(config: pytest.Config) -> None:
    """Register the opt-out marker (the suite runs with ``--strict-markers``)."""
    config.addinivalue_line(
        "markers", "no_contract(reason): do not check this test's Grafana exchanges against the API documents"
    )


def deviations_of(item: pytest.Item) -> list[Deviation]:
    """Every deviation in the logs of the sandboxes a test watched."""
    sandboxes = item.stash.get(WATCHED, [])
    if not sandboxes or item.get_closest_marker("no_contract") is not None:
        return []
    found: list[Deviation] = []
    for sandbox in sandboxes:
        if isinstance(sandbox, ArduinoSandbox):
            if arduino.available():
                found += check_arduino(arduino.load(), sandbox.logged_requests())
        elif spec.available():
            found += check_records(spec.load(), sandbox.logged_requests())
    return found


def judge(deviations: list[Deviation]) -> None:
    """Fail the running test on a deviation; warn of the pending ones (``tests.contract.pending``)."""
    known = [d for d in deviations if pending(d) is not None]
    new = [d for d in deviations if pending(d) is None]
    if known:
        fixes = sorted({fix.fix for d in known if (fix := pending(d)) is not None})
        text = report(known) + "\nto be fixed in:\n" + "\n".join(f"- {f}" for f in fixes)
        warnings.warn(PendingDeviation(text), stacklevel=2)
    if new:
        pytest.fail(report(new), pytrace=False)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, object, object]:
    """After a passing test body, fail the test on any deviation in its watched sandboxes' logs."""
    result = yield
    judge(deviations_of(item))
    return result
