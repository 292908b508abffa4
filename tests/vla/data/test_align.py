"""The alignment rule (vla/data/align.py): nearest older sample, stale and missing drops, late samples."""

import pytest

from vla.data.align import Aligner


def test_a_frame_takes_the_newest_sample_at_or_before_its_time() -> None:
    a = Aligner(["state", "image"], max_age_s=0.2)
    for t in (0.0, 0.1, 0.2):
        a.push("state", t, f"s{t}")
    a.push("image", 0.05, "i0")
    a.push("image", 0.15, "i1")
    assert a.sample(0.1) == {"state": "s0.1", "image": "i0"}
    assert a.sample(0.149) == {"state": "s0.1", "image": "i0"}  # never the future
    assert a.sample(0.15) == {"state": "s0.1", "image": "i1"}


def test_missing_and_stale_streams_drop_the_frame_and_are_counted() -> None:
    a = Aligner(["state", "image"], max_age_s=0.1)
    a.push("state", 0.0, 0)
    assert a.sample(0.0) is None  # no image yet
    a.push("image", 0.0, 0)
    a.push("state", 0.5, 1)
    assert a.sample(0.5) is None  # the image is 0.5 s old
    assert a.report.dropped == {("missing", "image"): 1, ("stale", "image"): 1}
    assert a.report.frames == 0 and "2 dropped" in a.report.summary()


def test_late_samples_are_placed_by_stamp_and_counted() -> None:
    a = Aligner(["state"], max_age_s=1.0)
    a.push("state", 0.2, "b")
    a.push("state", 0.1, "a")  # arrives after 0.2
    a.push("state", 0.2, "b2")  # same stamp again: replaces
    assert a.sample(0.15) == {"state": "a"} and a.sample(0.25) == {"state": "b2"}
    assert a.report.out_of_order == {"state": 1}


def test_frames_run_on_a_fixed_clock_from_the_first_full_frame() -> None:
    a = Aligner(["state", "image"], max_age_s=0.05)
    for k in range(41):  # state at 100 Hz, 0 to 0.4 s
        a.push("state", k / 100, k)
    for k in (1, 2, 3, 9, 10, 11):  # image at 30 Hz from 1/30 s, none from 0.1 to 0.3 s
        a.push("image", k / 30, k)
    kept = [(round(t, 4), f["image"]) for t, f in a.frames(fps=10)]
    # frames at 1/30 + k/10 s up to 0.4 s; at 0.2333 the newest image (0.1 s) is 0.133 s old
    assert kept == [(0.0333, 1), (0.1333, 3), (0.3333, 10)]
    assert a.report.dropped == {("stale", "image"): 1}


def test_bad_arguments_name_the_problem() -> None:
    with pytest.raises(ValueError, match="max_age_s"):
        Aligner(["s"], max_age_s=0)
    with pytest.raises(KeyError, match="unknown stream 'x'"):
        Aligner(["s"], max_age_s=1).push("x", 0.0, 0)


def test_forget_before_bounds_a_live_buffer_while_frames_are_dropped() -> None:
    a = Aligner(["state", "image"], max_age_s=0.1, keep_s=1.0)
    for k in range(500):  # 5 s of state, no image at all: every frame is dropped
        a.push("state", k / 100, k)
        if k % 10 == 0:
            assert a.sample(k / 100) is None
            a.forget_before(k / 100 - a.keep_s)
    assert a.latest("state", 3.8) is None  # forgotten: older than the last frame (4.9 s) - keep_s
    assert a.latest("state", 4.0) == (4.0, 400)  # what is kept still serves
    assert a.report.dropped == {("missing", "image"): 50}
