"""argparse types, the one-line error reporter, and optional extras."""

from __future__ import annotations

import argparse

import pytest

from jaynes_hw.support.arguments import comma_list, positive_float, positive_int, unit_fraction
from jaynes_hw.support.errors import UserError, run_reporting_errors
from jaynes_hw.support.extras import require_extra


@pytest.mark.parametrize(
    "parse, text, message",
    [
        (positive_int, "0", "positive integer, not 0"),
        (positive_int, "x", "positive integer, not 'x'"),
        (positive_float, "-1", "positive number, not -1"),
        (positive_float, "inf", "positive number, not inf"),
        (unit_fraction, "1", r"in \(0, 1\), not 1$"),
        (comma_list(("a", "b"), "scheme"), "a,c", "unknown scheme 'c'; expected some of a, b"),
        (comma_list(), " , ", "at least one item"),
    ],
)
def test_bad_values_are_refused(parse, text, message):
    with pytest.raises(argparse.ArgumentTypeError, match=message):
        parse(text)


def test_good_values_parse():
    assert positive_int("3") == 3 and positive_float("2.5") == 2.5 and unit_fraction(".5") == 0.5
    assert comma_list(("a", "b"))(" b, a ") == ("b", "a")


def test_the_reporter_turns_errors_into_one_line_and_a_status(capsys, monkeypatch):
    def fail(error):
        def action():
            raise error

        return action

    assert run_reporting_errors(fail(UserError("bad file")), program="p") == 1
    assert capsys.readouterr().err == "p: error: bad file\n"
    assert run_reporting_errors(fail(KeyboardInterrupt())) == 130
    assert run_reporting_errors(fail(BrokenPipeError())) == 0
    monkeypatch.delenv("JAYNES_HW_DEBUG", raising=False)
    assert run_reporting_errors(fail(ZeroDivisionError("x"))) == 3
    err = capsys.readouterr().err
    assert "internal error: ZeroDivisionError" in err and "Traceback" not in err
    monkeypatch.setenv("JAYNES_HW_DEBUG", "1")
    with pytest.raises(ZeroDivisionError):
        run_reporting_errors(fail(ZeroDivisionError("x")))
    assert run_reporting_errors(lambda: 7) == 7


def test_a_missing_extra_names_it():
    assert require_extra("json", "none").dumps([]) == "[]"
    with pytest.raises(UserError, match=r"plotting needs the 'plots' extra: pip install"):
        require_extra("no_such_module_here", "plots", "plotting")
