"""Formal proofs of the datapath's promises (SymbiYosys + boolector, from pip).

``python -m pytest -m formal`` runs every standard proof (minutes). The default suite runs
one small proof and shows that each kind of proof fails on a design broken the way it
guards against, naming the broken promise and writing a counterexample trace.
"""

from __future__ import annotations

import pytest

from jaynes_hw.formal.proofs import PROOF_LAYERS, Proof, run_proof, standard_proofs
from tests.helpers.broken_designs import CommitMidVector, NoOutputCredit, ShifterOnePlaceTooFar

STANDARD = {proof.name: proof for proof in standard_proofs()}


@pytest.mark.formal
@pytest.mark.parametrize("name", sorted(STANDARD))
def test_standard_proof_passes(tmp_path, name):
    result = run_proof(STANDARD[name], tmp_path)
    assert (result.status, result.failed) == ("pass", ())


def test_commit_and_overflow_proof_passes_on_the_int8_core(tmp_path):
    """The small proof of the default suite: 48 cycles of BMC, every port free."""
    result = run_proof(STANDARD["int8-overflow-commit"], tmp_path)
    assert (result.status, result.failed) == ("pass", ())


def _assert_fails(result, message):
    assert result.status == "fail"
    assert result.failed == (message,)
    assert result.trace is not None and result.trace.stat().st_size > 0


def test_a_commit_applied_mid_vector_fails_the_commit_proof(tmp_path):
    proof = Proof("broken-commit", PROOF_LAYERS["int8"], ("commit",), depth=32)
    result = run_proof(proof, tmp_path, CommitMidVector)
    _assert_fails(result, "the active registers changed within a vector")


def test_a_shifter_one_place_too_far_fails_the_overflow_proof(tmp_path):
    proof = Proof("broken-shifter", PROOF_LAYERS["pow2-per-lane"], ("overflow",), depth=12)
    result = run_proof(proof, tmp_path, ShifterOnePlaceTooFar)
    assert result.status == "fail"
    assert result.failed and all("term out of range" in message for message in result.failed)


def test_draining_the_bank_without_credit_fails_the_streams_proof(tmp_path):
    proof = STANDARD["int8-one-pass-streams"]
    result = run_proof(proof, tmp_path, NoOutputCredit)
    _assert_fails(result, "the output queue refused a result")
