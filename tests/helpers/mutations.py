"""Deliberate faults in generated Verilog, for the tests that show a checker catches them."""

from __future__ import annotations

# lane 0's term XOR sign (a negative weight's one's complement) in the emitted Verilog
SIGN_FLIP = " ^ { 1'h0, sign2_0"


def break_one_sign_flip(verilog: str) -> str:
    """``verilog`` with lane 0's sign flip of its first layer turned into an AND: every term
    of a positive weight becomes 0 and of a negative one keeps its magnitude."""
    assert SIGN_FLIP in verilog, "the generated Verilog no longer has the lane-0 sign flip"
    return verilog.replace(SIGN_FLIP, " & { 1'h0, sign2_0", 1)


# the first layer's pass counter stepping on to the next pass (the emitted Verilog)
PASS_STEP = "= pass_index + 1'h1;"


def break_pass_counter(verilog: str) -> str:
    """``verilog`` with the first layer's pass counter stepping down instead of up: it jumps
    from the first pass to the last, so each vector leaves the layer short of results and the
    next layer waits forever for the rest (the kind of one-character fault that once hung
    ``jaynes-hw sim`` for minutes)."""
    assert PASS_STEP in verilog, "the generated Verilog no longer has the pass counter step"
    return verilog.replace(PASS_STEP, "= pass_index - 1'h1;", 1)
