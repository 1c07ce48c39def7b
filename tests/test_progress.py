"""The progress protocol: one bar per pass, advanced once per item after the item is done."""

from pipeline.progress import no_progress, track


def test_track_opens_one_bar_and_advances_after_each_item():
    events: list[tuple] = []

    def progress(description, total):
        events.append(("start", description, total))
        return lambda n=1: events.append(("advance", n))

    for item in track(["a", "b"], progress, "letters", 2):
        events.append(("item", item))
    assert events == [("start", "letters", 2), ("item", "a"), ("advance", 1), ("item", "b"),
                      ("advance", 1)]


def test_no_progress_accepts_every_call():
    advance = no_progress("anything", 3)
    advance(1)
    assert list(track(range(3), no_progress, "quiet", 3)) == [0, 1, 2]
