"""Deviations found and awaiting their fix elsewhere: reported as warnings, not failures, meanwhile.

Unlike ``allowances`` (where Grafana's behaviour differs from its documents and the sandbox rightly
follows Grafana), each entry here is a bug: in the sandbox or in dashvault, with the place the fix
belongs. Remove the entry with the fix; its deviation then fails the tests again if it comes back.
"""

from __future__ import annotations

from dataclasses import dataclass

from tests.contract.check import Deviation


@dataclass(frozen=True)
class Pending:
    """A deviation matched by operation, status and field, with where it is to be fixed."""

    method: str
    template: str
    where: str
    """Prefix of the deviation's ``where``."""
    fix: str
    status: int | None = None
    problem: str = ""
    """Substring of the deviation's ``problem``, when the rest does not single it out."""

    def matches(self, d: Deviation) -> bool:
        """Whether a deviation is this one."""
        return (
            d.method == self.method
            and (self.template in ("*", d.template))
            and d.where.startswith(self.where)
            and (self.status is None or d.status == self.status)
            and self.problem in d.problem
        )


PENDING: tuple[Pending, ...] = ()


def pending(d: Deviation) -> Pending | None:
    """The pending entry a deviation is, if any."""
    return next((p for p in PENDING if p.matches(d)), None)
