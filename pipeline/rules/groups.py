"""Rules that look at a whole class: photo counts, duplicates, the attribute tables."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from pipeline.config import ValidateParams
from pipeline.findings import Finding, Severity
from pipeline.measure import ClassData, Photo
from pipeline.rules import class_rule


@class_rule("count")
def count(data: ClassData, p: ValidateParams) -> Iterator[Finding]:
    for student, sd in data.students.items():
        n = len(sd.photos)
        if n != p.images_per_student:
            comparison = "more" if n > p.images_per_student else "fewer"
            yield Finding(
                student,
                "",
                "count",
                Severity.ERROR,
                f"handed in {n} photo{'' if n == 1 else 's'}, {comparison} than the "
                f"{p.images_per_student} asked for",
                quantity="photos",
                value=n,
                limit=p.images_per_student,
                unit="count",
                comparison="==",
            )


@class_rule("duplicate")
def duplicate(data: ClassData, p: ValidateParams) -> Iterator[Finding]:
    """Same bytes, or perceptual hashes within `duplicate_max_distance` bits, anywhere in the class.

    A copy inside one submission flags every copy after the first (by file name); a photo handed in
    by two students flags it in both submissions, each naming the other, since only the instructor
    can tell who took it.
    """
    photos = [ph for sd in data.students.values() for ph in sorted(sd.photos, key=lambda x: x.file)]
    for i, (j, distance) in _closest_earlier_or_other(photos, p.duplicate_max_distance).items():
        me, other = photos[i], photos[j]
        where = f"{other.student}/{other.file}"
        if distance == 0 and me.sha256 == other.sha256:
            how = "an identical file"
        else:
            how = "a near-identical copy"
        if other.student != me.student:
            msg = (
                f"{other.student} handed in {how} of this photo ({where}); "
                "every photo must be your own and appear once"
            )
        else:
            msg = f"{how} of {other.file} in this submission; replace it with a different photo"
        yield Finding(
            me.student,
            me.file,
            "duplicate",
            Severity.ERROR,
            msg,
            quantity="hash_distance",
            value=distance,  # 0 for identical bytes
            limit=p.duplicate_max_distance,
            unit="bits",
            comparison=">",
            related=where,
        )


def _closest_earlier_or_other(photos: list[Photo], limit: int) -> dict[int, tuple[int, int]]:
    """For each photo that is a copy: the photo it copies and the hash distance.

    A photo copies an earlier photo of its own submission, or any photo of another student's.
    """
    n = len(photos)
    if n == 0:
        return {}
    hashes = np.array([int(ph.phash, 16) if ph.phash else 0 for ph in photos], dtype=np.uint64)
    # pHash sets a bit per DCT coefficient above their median, so any photo with detail has
    # about half of its 64 bits set (every fixture: exactly 32). A blank, flat or smooth frame
    # sets 0 or 1 and would "match" every other blank frame: such hashes compare to nothing, and
    # only identical bytes count as a copy.
    bits = np.bitwise_count(hashes)
    has_hash = np.array([ph.phash is not None for ph in photos], dtype=bool)
    has_hash &= (bits >= 16) & (bits <= 48)
    students = np.array([ph.student for ph in photos])
    shas = np.array([ph.sha256 for ph in photos])
    out: dict[int, tuple[int, int]] = {}
    for i in range(n):
        dist = np.bitwise_count(hashes ^ hashes[i]).astype(np.int64)
        dist[~has_hash | ~has_hash[i]] = 65  # no hash: only identical bytes can match
        dist[shas == shas[i]] = 0
        dist[i] = 65
        candidates = dist <= limit
        # within one's own submission only earlier photos count: the first copy is kept
        own_later = (students == students[i]) & (np.arange(n) > i)
        candidates &= ~own_later
        if candidates.any():
            idx = np.flatnonzero(candidates)
            other_students = idx[students[idx] != students[i]]
            pick = other_students if len(other_students) else idx
            j = int(pick[np.argmin(dist[pick])])
            out[i] = (j, int(dist[j]))
    return out


@class_rule("attributes")
def attributes(data: ClassData, p: ValidateParams) -> Iterator[Finding]:
    for sd in data.students.values():
        if sd.attributes is not None:
            yield from sd.attributes.findings
