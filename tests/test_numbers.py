"""Numbers for people: the same value reads the same in German and English, only the marks differ."""

from __future__ import annotations

import math

import numpy as np

from h2quarters.numbers import num, percent, readable


def test_marks_by_language() -> None:
    assert num(1234567.891, ",.2f", "de") == "1\u202f234\u202f567,89"
    assert num(1234567.891, ",.2f", "en") == "1\u202f234\u202f567.89"
    assert readable(0.12345, "de") == "0,123" and readable(12.345, "en") == "12.35" and readable(1234.5, "de") == "1\u202f234"
    assert readable(1234.5, "en", "g") == "1\u202f234.5" and readable(2.5e7, "de", "g") == "25\u202f000\u202f000"
    assert percent(0.1234, "de") == "12,3 %" and percent(0.1234, "en", 2) == "12.34 %"


def test_odd_values_do_not_break_a_page() -> None:
    assert readable(None) == "–" and readable(math.nan) == "–" and readable(np.float32("inf")) == "–"
    assert percent(None) == "–" and percent(math.nan, "de") == "–"
    assert readable(-0.0001, "en", 2) == "0.00"  # no "-0.00"
    assert readable(True) == "True" and readable("shipped:a") == "shipped:a"  # not numbers: shown as they are
    assert readable(np.float32(1.5), "de", 1) == "1,5" and readable(np.int64(7), "en", 0) == "7"
