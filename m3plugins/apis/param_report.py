"""Trainable / frozen parameter report of a model built from a config.

Used by ``tools/param_report.py`` for the frozen-tower systems (MoBaNet,
M3amba): counts per top-level module, and a check that one real optimizer
step leaves the frozen parameters without gradient and without optimizer
state.
"""
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
from torch import nn


@dataclass
class ParamCounts:
    """Parameter counts of a module."""
    trainable: int = 0
    frozen: int = 0

    @property
    def total(self) -> int:
        """Number of parameters, trainable and frozen together."""
        return self.trainable + self.frozen


@dataclass
class ParamReport:
    """Counts for a whole model and per top-level child module."""
    total: ParamCounts
    modules: dict[str, ParamCounts] = field(default_factory=OrderedDict)

    def trainable_without(self, names: Sequence[str]) -> int:
        """Trainable parameters outside the named top-level modules."""
        return self.total.trainable - sum(
            self.modules[n].trainable for n in names if n in self.modules)

    def format(self, exclude_for_summary: Sequence[str] = ()) -> str:
        """A printable table (millions, two decimals, plus exact counts)."""
        rows = [f'{"module":<18}{"trainable":>22}{"frozen":>22}{"total":>22}']
        for name, counts in list(self.modules.items()) + [('TOTAL',
                                                           self.total)]:
            rows.append(f"{name:<18}{_m(counts.trainable):>22}"
                        f'{_m(counts.frozen):>22}{_m(counts.total):>22}')
        present = [n for n in exclude_for_summary if n in self.modules]
        if present:
            rows.append(f'trainable without {"+".join(present)}: '
                        f'{_m(self.trainable_without(present))}')
        return '\n'.join(rows)


def _m(n: int) -> str:
    return f'{n / 1e6:.2f}M ({n})'


def _count(params) -> ParamCounts:
    counts = ParamCounts()
    seen = set()
    for param in params:
        if id(param) in seen:
            continue
        seen.add(id(param))
        if param.requires_grad:
            counts.trainable += param.numel()
        else:
            counts.frozen += param.numel()
    return counts


def parameter_report(model: nn.Module) -> ParamReport:
    """Count trainable (``requires_grad``) and frozen parameters.

    Works on models built on the ``meta`` device (no memory needed).
    """
    report = ParamReport(total=_count(model.parameters()))
    for name, child in model.named_children():
        report.modules[name] = _count(child.parameters())
    return report


def frozen_step_violations(model: nn.Module,
                           optimizer: torch.optim.Optimizer) -> list[str]:
    """Frozen parameters that got a gradient or optimizer state.

    Call after at least one optimizer step.

    Returns:
        list[str]: One line per violation (empty if none).
    """
    problems = []
    for name, param in model.named_parameters():
        if param.requires_grad:
            continue
        if param.grad is not None:
            problems.append(f'{name}: has a gradient')
        if param in optimizer.state and optimizer.state[param]:
            problems.append(f'{name}: has optimizer state '
                            f'{sorted(optimizer.state[param])}')
    return problems


def trainable_step_coverage(model: nn.Module,
                            optimizer: torch.optim.Optimizer
                            ) -> float | None:
    """Fraction of trainable tensors that have optimizer state."""
    trainable = [p for p in model.parameters() if p.requires_grad]
    if not trainable:
        return None
    with_state = sum(1 for p in trainable
                     if p in optimizer.state and optimizer.state[p])
    return with_state / len(trainable)
