"""Quality gates with a target and a floor, for the evaluation scripts and tests.

A gate's *target* is what the issue asks for; its *floor* is what the build holds the assistant
to today (a little below what it last measured), so that nothing gets worse unnoticed while a
target is not yet met. Both are printed for every gate; the build fails below a floor, and a
target missed is printed as MISSED.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, List


@dataclass(frozen=True)
class Gate:
    name: str
    value: float
    target: float
    floor: float
    higher_is_better: bool = True
    percent: bool = True

    def _meets(self, bound: float) -> bool:
        return self.value >= bound if self.higher_is_better else self.value <= bound

    @property
    def meets_target(self) -> bool:
        return self._meets(self.target)

    @property
    def meets_floor(self) -> bool:
        return self._meets(self.floor)

    def show(self, value: float) -> str:
        return f"{value:.1%}" if self.percent else f"{value:.4f}"


def report(title: str, gates: Iterable[Gate]) -> List[Gate]:
    """Print the gates; return those below their floor."""
    gates = list(gates)
    print(f"\n{title}")
    print(f"{'gate':<58}{'value':>9}{'target':>10}{'floor':>10}  verdict")
    for gate in gates:
        verdict = "met" if gate.meets_target else ("MISSED (above the floor)" if gate.meets_floor else "BELOW THE FLOOR")
        sign = ">=" if gate.higher_is_better else "<="
        print(f"{gate.name:<58}{gate.show(gate.value):>9}{sign + gate.show(gate.target):>10}"
              f"{sign + gate.show(gate.floor):>10}  {verdict}")
    return [gate for gate in gates if not gate.meets_floor]


SEALED = "sealed"


def may_print_items(set_name: str) -> bool:
    """Whether a gate may print the messages it got wrong: never for the sealed set, which stays
    unread until it is opened as development (tests/sealed/README.md); only its totals are shown."""
    return set_name != SEALED


def former_sealed(directory: Path, prefix: str) -> List[Path]:
    """The development files that were sealed batches (`<prefix>former_sealed_<n>.yml`), by batch:
    each batch joins the development sets when it is opened, with no list to edit."""
    found = directory.glob(f"{prefix}former_sealed_*.yml")
    return sorted(found, key=lambda path: int(re.search(r"_(\d+)\.yml$", path.name).group(1)))
