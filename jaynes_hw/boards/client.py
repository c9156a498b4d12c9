"""``HostClient``: the host side of the board's UART protocol
(``jaynes_hw.contract.host_protocol``), over any transport with pyserial's ``read(n)`` /
``write(data)``: a ``serial.Serial`` on a real board, ``SimulatedSerial`` in the tests.
"""

from __future__ import annotations

import math
import struct
import time
from collections import Counter
from collections.abc import Iterable

import numpy as np

from jaynes_hw.contract.design import Design
from jaynes_hw.contract.host_protocol import (
    ERROR_REPLY,
    MAX_SELF_TEST_PASSES,
    HostCommand,
    LinkFault,
    batch_vectors,
    crc8,
    framed,
    value_bytes,
)
from jaynes_hw.contract.registers import RegisterMap
from jaynes_hw.support.errors import UserError


class LinkError(UserError):
    """The board did not answer as the protocol says (wrong design, baud rate or cable), or
    a command still failed after its retries."""


RESYNC_LIMIT_BYTES = 1 << 20  # a line that never goes quiet is not a board


class HostClient:
    """Drive a board top (``jaynes_hw.boards.BoardTop``) through a byte transport.

    Parameters
    ----------
    port :
        Anything with ``read(n) -> bytes`` (which may return fewer bytes on timeout) and
        ``write(data)``: a ``serial.Serial``, or the simulated UART in the tests. Its read
        timeout must be longer than the board's idle timeout (``IDLE_TIMEOUT_S``).
    n_in, n_out, act_bits, out_bits : int
        The network's first ``n_in`` / ``act_bits`` and last ``n_out`` / ``out_bits``.
    attempts : int
        Tries per command: a command whose answer is an 'E', is missing, or fails its CRC
        is sent again after the line has been quiet (``resync``).

    ``faults`` counts, by reason, every failed try since the client was made.
    """

    def __init__(
        self, port, *, n_in: int, n_out: int, act_bits: int, out_bits: int, attempts: int = 3
    ):
        if attempts < 1:
            raise ValueError(f"attempts must be at least 1, not {attempts}")
        self.port = port
        self.n_in, self.n_out = n_in, n_out
        self.in_bytes, self.out_bytes = value_bytes(act_bits), value_bytes(out_bits)
        self.act_bits, self.out_bits = act_bits, out_bits
        self.attempts = attempts
        self.faults: Counter[str] = Counter()

    def _read_exactly(self, count: int, what: str, patience: int = 1) -> bytes:
        """``count`` bytes; ``LinkError`` after ``patience`` reads in a row time out."""
        data, misses = b"", 0
        while len(data) < count:
            chunk = self.port.read(count - len(data))
            misses = 0 if chunk else misses + 1
            if misses >= patience:
                raise LinkError(
                    f"no answer from the board ({what}: {len(data)} of {count} bytes); check "
                    "the port, the baud rate and that the bitstream is this design"
                )
            data += chunk
        return data

    def resync(self) -> None:
        """Read until the line is quiet for the port's timeout: whatever the board was
        answering is dropped, and it is listening for a command again."""
        dropped = 0
        while chunk := self.port.read(4096):
            dropped += len(chunk)
            if dropped > RESYNC_LIMIT_BYTES:
                raise LinkError("the board keeps sending: check the baud rate and the design")

    def _transact(
        self, command: HostCommand, body: bytes, answer_bytes: int, what: str, patience: int = 1
    ):
        """Send one command frame; return the ``answer_bytes`` data bytes of its answer,
        after checking its tag and CRC; retry as the class docstring says. ``patience``: read
        timeouts to wait for the answer's first byte (a command that computes long)."""
        frame = framed(bytes([command]) + body)
        reason = ""
        for _ in range(self.attempts):
            self.port.write(frame)
            try:
                tag = self._read_exactly(1, what, patience)
                if tag[0] == ERROR_REPLY:
                    answer = tag + self._read_exactly(2, what)
                    fault = _fault_name(answer[1]) if crc8(answer) == 0 else "garbled error"
                    reason = f"the board refused it ({fault})"
                elif tag[0] != command:
                    reason = f"the board answered {tag!r}, not {bytes([command])!r}"
                else:
                    answer = tag + self._read_exactly(answer_bytes + 1, what)
                    if crc8(answer) == 0:
                        return answer[1:-1]
                    reason = "its answer failed the checksum"
            except LinkError as error:
                if self.attempts == 1:
                    raise
                reason = str(error)
            self.faults[reason.split(" (")[0]] += 1
            self.resync()
        raise LinkError(f"{what} failed {self.attempts} times; last: {reason}")

    def sync(self) -> None:
        """Check that the board answers."""
        self._transact(HostCommand.SYNC, b"", 0, "sync")

    def write(self, address: int, data: int) -> None:
        body = struct.pack("<II", address, data & 0xFFFF_FFFF)
        self._transact(HostCommand.WRITE, body, 0, f"write of {address:#x}")

    def read(self, address: int) -> int:
        answer = self._transact(HostCommand.READ, struct.pack("<I", address), 4, "read")
        return struct.unpack("<I", answer)[0]

    def play(self, writes: Iterable[tuple[int, int]]) -> int:
        """Perform (address, data) writes in order (a ``LayerDriver`` list); return how many."""
        count = 0
        for address, data in writes:
            self.write(address, data)
            count += 1
        return count

    def infer(self, vectors: np.ndarray) -> np.ndarray:
        """Stream input vectors (count, n_in) through the network; return (count, n_out).

        Vectors go in batches of ``batch_vectors(n_in)`` (what the board holds before it
        checks a frame), each batch after the results of the one before it.
        """
        vectors = np.asarray(vectors)
        if vectors.ndim != 2 or vectors.shape[1] != self.n_in:
            raise UserError(f"input vectors must have shape (count, {self.n_in})")
        half = 1 << (self.act_bits - 1)
        if vectors.size and (vectors.min() < -half or vectors.max() >= half):
            raise UserError(f"input values must fit {self.act_bits}-bit signed [-{half}, {half})")
        per_batch = batch_vectors(self.n_in)
        results = []
        for start in range(0, len(vectors), per_batch):
            batch = vectors[start : start + per_batch]
            payload = b"".join(
                int(value).to_bytes(self.in_bytes, "little", signed=True)
                for value in batch.reshape(-1).astype(np.int64)
            )
            answer = self._transact(
                HostCommand.STREAM,
                struct.pack("<H", len(batch)) + payload,
                len(batch) * self.n_out * self.out_bytes,
                f"a stream of {len(batch)} vectors",
            )
            results.append(self._decode(answer).reshape(len(batch), self.n_out))
        if not results:
            return np.zeros((0, self.n_out), dtype=np.int64)
        return np.concatenate(results)

    def self_test(self, passes: int, expected_s: float = 0.0) -> tuple[int, int]:
        """Run the vectors the last ``infer`` batch staged ``passes`` times on the board at the
        core's full rate (no results on the link); return (cycles, checksum): the clock
        cycles from the first value in to the last result out, and ``results_checksum`` of
        every result. ``expected_s``: how long the run should take (the answer is awaited
        twice that, and one read timeout). ``LinkError`` before any ``infer`` (nothing
        staged), or from a board built without the self-test."""
        if not 1 <= passes <= MAX_SELF_TEST_PASSES:
            raise UserError(f"self-test passes must be 1..{MAX_SELF_TEST_PASSES}, not {passes}")
        port_timeout_s = getattr(self.port, "timeout", None) or 1.0
        patience = 1 + math.ceil(2 * expected_s / port_timeout_s)
        try:
            answer = self._transact(
                HostCommand.SELF_TEST,
                struct.pack("<H", passes),
                8,
                f"a self-test of {passes} passes",
                patience,
            )
        except LinkError as error:
            if f"({LinkFault.UNKNOWN.name.lower()})" not in str(error):
                raise
            raise LinkError(
                f"{error}: this bitstream has no self-test (built with --no-self-test)"
            ) from None
        cycles, checksum = struct.unpack("<II", answer)
        return cycles, checksum

    def _decode(self, data: bytes) -> np.ndarray:
        width = self.out_bytes
        return np.array(
            [
                int.from_bytes(data[i : i + width], "little", signed=True)
                for i in range(0, len(data), width)
            ],
            dtype=np.int64,
        )

    def wait_idle(self, status_address: int, timeout_s: float = 1.0) -> None:
        """Poll a layer's STATUS until its commit is applied (bit 0 clear)."""
        deadline = time.monotonic() + timeout_s
        while self.read(status_address) & 1:
            if time.monotonic() > deadline:
                raise LinkError("a codebook commit stayed pending on the board")


def client_for(port, design: Design) -> HostClient:
    """A client for the network a manifest describes."""
    return HostClient(
        port,
        n_in=design.n_in,
        n_out=design.n_out,
        act_bits=design.act_bits,
        out_bits=design.out_bits,
    )


def check_identity(client: HostClient, design: Design) -> None:
    """Read every layer's constant registers and compare them with the manifest's design."""
    for index, layer in enumerate(design.layers):
        expected = RegisterMap.of(layer.config).constant_registers()
        for offset, value in expected.items():
            found = client.read(layer.base_address + offset)
            if found != value:
                raise LinkError(
                    f"layer {index} register {offset} reads {found:#010x}, the manifest's "
                    f"design has {value:#010x}: the board holds a different design"
                )


def _fault_name(code: int) -> str:
    try:
        return LinkFault(code).name.lower()
    except ValueError:
        return f"code {code}"
