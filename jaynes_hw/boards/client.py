"""``HostClient``: the host side of the board's UART protocol
(``jaynes_hw.contract.host_protocol``), over any transport with pyserial's ``read(n)`` /
``write(data)``: a ``serial.Serial`` on a real board, ``SimulatedSerial`` in the tests.
"""

from __future__ import annotations

import struct
import time
from collections.abc import Iterable

import numpy as np

from jaynes_hw.contract.design import Design
from jaynes_hw.contract.host_protocol import (
    MAX_STREAM_VALUES,
    RX_FIFO_BYTES,
    HostCommand,
    value_bytes,
)
from jaynes_hw.contract.registers import RegisterMap
from jaynes_hw.support.errors import UserError


class LinkError(UserError):
    """The board did not answer as the protocol says (wrong design, baud rate or cable)."""


class HostClient:
    """Drive a board top (``jaynes_hw.boards.BoardTop``) through a byte transport.

    Parameters
    ----------
    port :
        Anything with ``read(n) -> bytes`` (which may return fewer bytes on timeout) and
        ``write(data)``: a ``serial.Serial``, or the simulated UART in the tests.
    n_in, n_out, act_bits, out_bits : int
        The network's first ``n_in`` / ``act_bits`` and last ``n_out`` / ``out_bits``.
    """

    def __init__(self, port, *, n_in: int, n_out: int, act_bits: int, out_bits: int):
        self.port = port
        self.n_in, self.n_out = n_in, n_out
        self.in_bytes, self.out_bytes = value_bytes(act_bits), value_bytes(out_bits)
        self.act_bits, self.out_bits = act_bits, out_bits

    def _read_exactly(self, count: int, what: str) -> bytes:
        data = b""
        while len(data) < count:
            chunk = self.port.read(count - len(data))
            if not chunk:
                raise LinkError(
                    f"no answer from the board ({what}: {len(data)} of {count} bytes); check "
                    "the port, the baud rate and that the bitstream is this design"
                )
            data += chunk
        return data

    def sync(self) -> None:
        """Check that the board answers: send 'S' and expect 'S' back."""
        self.port.write(bytes([HostCommand.SYNC]))
        answer = self._read_exactly(1, "sync")
        if answer[0] != HostCommand.SYNC:
            raise LinkError(f"the board answered {answer!r} to a sync, not b'S'")

    def write(self, address: int, data: int) -> None:
        self.port.write(struct.pack("<BII", HostCommand.WRITE, address, data & 0xFFFF_FFFF))
        answer = self._read_exactly(1, "write acknowledge")
        if answer[0] != HostCommand.WRITE:
            raise LinkError(f"the board answered {answer!r} to a write, not b'W'")

    def read(self, address: int) -> int:
        self.port.write(struct.pack("<BI", HostCommand.READ, address))
        return struct.unpack("<I", self._read_exactly(4, "read"))[0]

    def play(self, writes: Iterable[tuple[int, int]]) -> int:
        """Perform (address, data) writes in order (a ``LayerDriver`` list); return how many."""
        count = 0
        for address, data in writes:
            self.write(address, data)
            count += 1
        return count

    def infer(self, vectors: np.ndarray) -> np.ndarray:
        """Stream input vectors (count, n_in) through the network; return (count, n_out).

        Vectors are sent in batches small enough for the board's receive FIFO, each batch
        after the results of the one before it have arrived.
        """
        vectors = np.asarray(vectors)
        if vectors.ndim != 2 or vectors.shape[1] != self.n_in:
            raise UserError(f"input vectors must have shape (count, {self.n_in})")
        half = 1 << (self.act_bits - 1)
        if vectors.size and (vectors.min() < -half or vectors.max() >= half):
            raise UserError(f"input values must fit {self.act_bits}-bit signed [-{half}, {half})")
        per_batch = max(
            1,
            min(
                (RX_FIFO_BYTES - 3) // (self.n_in * self.in_bytes),
                MAX_STREAM_VALUES // self.n_in,
            ),
        )
        results = []
        for start in range(0, len(vectors), per_batch):
            batch = vectors[start : start + per_batch]
            values = batch.reshape(-1).astype(np.int64)
            payload = b"".join(
                int(value).to_bytes(self.in_bytes, "little", signed=True) for value in values
            )
            self.port.write(struct.pack("<BH", HostCommand.STREAM, values.size) + payload)
            answer = self._read_exactly(len(batch) * self.n_out * self.out_bytes, "results")
            results.append(self._decode(answer).reshape(len(batch), self.n_out))
        if not results:
            return np.zeros((0, self.n_out), dtype=np.int64)
        return np.concatenate(results)

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
