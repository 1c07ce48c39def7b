"""The rule registry: one function per rule, registered with its id, severity and what it needs.

Photo rules judge one photo's measurements against the limits in params.yaml; class rules look
at a whole class at once (counts, duplicates, attribute tables). Rules never measure anything
themselves, so changing a limit re-judges cached measurements without decoding or detecting
again. Importing this package registers every rule.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

from pipeline.findings import Finding, Severity

if TYPE_CHECKING:
    from pipeline.config import ValidateParams
    from pipeline.measure import ClassData, Photo


class Needs(StrEnum):
    FILE = "file"  # runs on every photo
    PIXELS = "pixels"  # runs only when the photo decoded
    FACE = "face"  # runs only when at least one face was found (the largest is the main face)


@dataclass(frozen=True)
class Breach:
    """What a photo rule reports: a sentence a student can act on, and the measurement it judged
    as numbers (see pipeline.findings.Finding: quantity, value, limit, unit, comparison)."""

    message: str
    quantity: str = ""
    value: float | None = None
    limit: float | None = None
    unit: str = ""
    comparison: str = ""


PhotoCheck = Callable[["Photo", "ValidateParams"], Breach | None]
ClassCheck = Callable[["ClassData", "ValidateParams"], Iterable[Finding]]


@dataclass(frozen=True)
class Rule:
    id: str
    severity: Severity
    needs: Needs
    check: PhotoCheck


@dataclass(frozen=True)
class ClassRule:
    id: str
    check: ClassCheck


PHOTO_RULES: dict[str, Rule] = {}
CLASS_RULES: dict[str, ClassRule] = {}


def photo_rule(
    rule_id: str, severity: Severity, needs: Needs
) -> Callable[[PhotoCheck], PhotoCheck]:
    def register(check: PhotoCheck) -> PhotoCheck:
        if rule_id in PHOTO_RULES or rule_id in CLASS_RULES:
            raise ValueError(f"rule {rule_id!r} registered twice")
        PHOTO_RULES[rule_id] = Rule(rule_id, severity, needs, check)
        return check

    return register


def class_rule(rule_id: str) -> Callable[[ClassCheck], ClassCheck]:
    def register(check: ClassCheck) -> ClassCheck:
        if rule_id in PHOTO_RULES or rule_id in CLASS_RULES:
            raise ValueError(f"rule {rule_id!r} registered twice")
        CLASS_RULES[rule_id] = ClassRule(rule_id, check)
        return check

    return register


def judge_photo(photo: Photo, params: ValidateParams) -> list[Finding]:
    """Apply every photo rule whose needs the photo meets, in registration order."""
    findings = []
    for rule in PHOTO_RULES.values():
        if rule.needs is Needs.PIXELS and not photo.decoded:
            continue
        if rule.needs is Needs.FACE and photo.main_face is None:
            continue
        breach = rule.check(photo, params)
        if breach is not None:
            findings.append(
                Finding(
                    photo.student,
                    photo.file,
                    rule.id,
                    rule.severity,
                    breach.message,
                    quantity=breach.quantity,
                    value=breach.value,
                    limit=breach.limit,
                    unit=breach.unit,
                    comparison=breach.comparison,
                )
            )
    return findings


def judge_class(data: ClassData, params: ValidateParams) -> list[Finding]:
    findings: list[Finding] = []
    for rule in CLASS_RULES.values():
        findings.extend(rule.check(data, params))
    return findings


def rule_ids() -> list[str]:
    return [*PHOTO_RULES, *CLASS_RULES]


# Registration happens on import; the order here is the order findings are reported in.
from pipeline.rules import face as _face  # noqa: E402,F401
from pipeline.rules import files as _files  # noqa: E402,F401
from pipeline.rules import groups as _groups  # noqa: E402,F401
