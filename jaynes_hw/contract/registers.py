"""The configuration port's register map, and the driver that speaks it.

Pure Python: the gateware builds its address decoder from a ``RegisterMap``, the generator
writes it as JSON beside the Verilog, and the testbenches and the board host drive a core
through ``LayerDriver`` without knowing any address.

The bus (``jaynes_hw.gateware.bus``) carries 32-bit words at word addresses. One layer's
address space, each region aligned to its power-of-two size:

======== ========================= ===== ============================================
region   word                      R/W   meaning
======== ========================= ===== ============================================
regs     0  ID                     R     0x4A59_0000 | version << 8 | kind (1 lognormal,
                                         2 int8)
regs     1  SHAPE                  R     n_in | n_out << 16
regs     2  GEOMETRY               R     lanes | code_bits << 8 | act_bits << 16 |
                                         out_bits << 24
regs     3  FORMAT                 R     mantissa_bits | exponent_bits << 8 |
                                         bias_bits << 16 | relu << 24 | shared << 25 |
                                         unrolled << 26 | unrolled_serial << 27 |
                                         codes in SPRAM << 28
regs     4  CONTROL / STATUS       W     bit 0: commit the staged codebook and shift
                                   R     bit 0: commit pending, bit 1: busy
regs     5  SHIFT                  RW    staged output shift S (0..max_shift)
regs     6  SCALES                 R     scale_bits (0: no channel scales)
codebook k  LEVEL[k]               RW    staged: mantissa | exponent << 16
bias     o                         RW    bias of output o (sign-extended)
scale    o                         RW    channel scale of output o (unsigned)
codes    row * lanes_p2 + lane     RW    code of output pass * lanes + lane, input i,
                                         row = pass * n_in + i (an unrolled core: R,
                                         its codes are wiring; writes are ignored)
packed   row * words_p2 + word     W     codes in SPRAM only: lanes word * per_word + j,
codes                                    j < per_word, in bits j * code_bits up (per_word
                                         = 32 // code_bits): one write, several codes
======== ========================= ===== ============================================

``lanes_p2`` is ``lanes`` rounded up to a power of two, ``words_p2`` the words of a packed row
(``ceil(lanes / per_word)``) likewise. A layer whose codes live in SPRAM is loaded through
the packed region at start-up (``LayerDriver.packed_code_writes``): eight 4-bit codes a
write rather than one; reading it returns 0. The codebook and the shift are
*staged*: writes land in shadow registers and reading returns them; writing 1 to CONTROL
bit 0 asks the core to copy them to the datapath at the next vector boundary, so no output
ever mixes old and new strengths; STATUS bit 0 stays 1 until that happens. The channel
scales are staged too, in a second bank of their memory that the commit swaps with the
active one: after a commit the staged bank holds the scales from before it, so a retune
writes every scale (``LayerDriver.scale_writes`` does). Bias and code writes reach the
memories at once: write them while STATUS.busy is 0 (between vectors).
Every access is acknowledged five cycles after its strobe is taken (the request is
registered, decoded into registered flags, performed, and a memory's read data registered
twice); unmapped addresses read 0 and ignore writes.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from jaynes_hw.contract.codebook import Codebook
from jaynes_hw.contract.layer_config import BUS_DATA_BITS, LayerConfig
from jaynes_hw.contract.memory_image import pack_code_rows
from jaynes_hw.support.errors import UserError

REGISTER_MAP_VERSION = 3  # 2: one bias word per output; 3: channel scales, SCALES
ID_MAGIC = 0x4A59_0000
KIND_CODES = {"lognormal": 1, "int8": 2}

REG_ID, REG_SHAPE, REG_GEOMETRY, REG_FORMAT, REG_CONTROL, REG_SHIFT, REG_SCALES = range(7)
REGISTER_WORDS = 8
CONTROL_COMMIT = 1 << 0
STATUS_COMMIT_PENDING = 1 << 0
STATUS_BUSY = 1 << 1
EXPONENT_FIELD = 16  # codebook word: mantissa in the low bits, exponent from bit 16


def _ceil_pow2(value: int) -> int:
    return 1 << max(value - 1, 0).bit_length()


def _codes_per_word(config: LayerConfig) -> int:
    return min(BUS_DATA_BITS // config.code_bits, config.lanes)


def _packed_words(config: LayerConfig) -> int:
    """Packed-region words a code memory row takes."""
    return -(-config.lanes // _codes_per_word(config))


@dataclass(frozen=True)
class Region:
    """A power-of-two aligned range of word addresses."""

    name: str
    base: int
    size: int  # words, a power of two

    def contains(self, address: int) -> bool:
        return self.base <= address < self.base + self.size


@dataclass(frozen=True)
class RegisterMap:
    """Addresses of one layer core's configuration port (see the module docstring)."""

    config: LayerConfig
    regions: tuple[Region, ...]

    @classmethod
    def of(cls, config: LayerConfig) -> RegisterMap:
        lanes_p2 = _ceil_pow2(config.lanes)
        wanted = [("regs", REGISTER_WORDS)]
        if config.codebook_size:
            wanted.append(("codebook", config.codebook_size))
        if config.bias_bits:
            wanted.append(("bias", config.n_out))
        if config.scale_bits:
            wanted.append(("scale", config.n_out))
        wanted.append(("codes", config.code_rows * lanes_p2))
        if config.code_memory == "spram":
            wanted.append(("packed_codes", config.code_rows * _ceil_pow2(_packed_words(config))))
        regions, base = [], 0
        # ascending sizes keep every region aligned to its own size with little padding
        for name, words in sorted(wanted, key=lambda item: (item[0] != "regs", item[1])):
            size = _ceil_pow2(words)
            base = -(-base // size) * size
            regions.append(Region(name, base, size))
            base += size
        return cls(config, tuple(regions))

    @property
    def lanes_p2(self) -> int:
        return _ceil_pow2(self.config.lanes)

    @property
    def codes_per_word(self) -> int:
        """Codes one write to the packed region carries."""
        return _codes_per_word(self.config)

    @property
    def packed_words_p2(self) -> int:
        """Packed-region words a code memory row takes, rounded up to a power of two."""
        return _ceil_pow2(_packed_words(self.config))

    def has(self, name: str) -> bool:
        return any(region.name == name for region in self.regions)

    @property
    def address_bits(self) -> int:
        """Word-address width of the port."""
        end = max(region.base + region.size for region in self.regions)
        return max(end - 1, 1).bit_length()

    def region(self, name: str) -> Region:
        for region in self.regions:
            if region.name == name:
                return region
        raise KeyError(f"this core has no {name} region")

    # --- addresses ------------------------------------------------------------------------

    def level_address(self, k: int) -> int:
        return self.region("codebook").base + k

    def bias_address(self, output: int) -> int:
        return self.region("bias").base + output

    def scale_address(self, output: int) -> int:
        return self.region("scale").base + output

    def code_address(self, output: int, index: int) -> int:
        row, lane = self.config.code_row(output, index)
        return self.region("codes").base + row * self.lanes_p2 + lane

    def packed_code_address(self, row: int, word: int) -> int:
        return self.region("packed_codes").base + row * self.packed_words_p2 + word

    # --- constant registers ---------------------------------------------------------------

    def constant_registers(self) -> dict[int, int]:
        """Read-only identification words, by address."""
        config = self.config
        return {
            REG_ID: ID_MAGIC | REGISTER_MAP_VERSION << 8 | KIND_CODES[config.kind],
            REG_SHAPE: config.n_in | config.n_out << 16,
            REG_GEOMETRY: config.lanes
            | config.code_bits << 8
            | config.act_bits << 16
            | config.out_bits << 24,
            REG_FORMAT: (config.mantissa_bits if config.kind == "lognormal" else 0)
            | (config.exponent_bits if config.kind == "lognormal" else 0) << 8
            | config.bias_bits << 16
            | int(config.relu) << 24
            | int(config.datapath == "shared") << 25
            | int(config.datapath == "unrolled") << 26
            | int(config.datapath == "unrolled_serial") << 27
            | int(config.code_memory == "spram") << 28,
            REG_SCALES: config.scale_bits,
        }

    def to_json(self) -> dict:
        registers = {
            "ID": REG_ID,
            "SHAPE": REG_SHAPE,
            "GEOMETRY": REG_GEOMETRY,
            "FORMAT": REG_FORMAT,
            "CONTROL": REG_CONTROL,
            "SHIFT": REG_SHIFT,
            "SCALES": REG_SCALES,
        }
        return {
            "version": REGISTER_MAP_VERSION,
            "word_bits": BUS_DATA_BITS,
            "address_bits": self.address_bits,
            "lanes_p2": self.lanes_p2,
            "registers": registers,
            "constants": {str(k): v for k, v in self.constant_registers().items()},
            "control": {"commit": CONTROL_COMMIT},
            "status": {"commit_pending": STATUS_COMMIT_PENDING, "busy": STATUS_BUSY},
            "codebook_word": {"mantissa_lsb": 0, "exponent_lsb": EXPONENT_FIELD},
            "regions": {r.name: {"base": r.base, "size": r.size} for r in self.regions},
            "layer": self.config.to_json(),
        }


Write = tuple[int, int]  # (word address, 32-bit data)


def _word(value: int) -> int:
    return int(value) & 0xFFFF_FFFF


class LayerDriver:
    """Register writes and reads for one layer core, independent of the transport.

    Methods return lists of ``(address, data)`` writes; a transport plays them on a bus
    (``await bus.write(a, d)`` in a testbench, a UART frame on a board). ``base`` offsets
    every address (a layer's place in a ``Network``).
    """

    def __init__(self, register_map: RegisterMap, base: int = 0):
        self.map = register_map
        self.config = register_map.config
        self.base = base

    def _at(self, address: int) -> int:
        return self.base + address

    def shift_writes(self, shift: int) -> list[Write]:
        if not 0 <= shift <= self.config.max_shift:
            raise UserError(f"shift must be 0..{self.config.max_shift}, not {shift}")
        return [(self._at(REG_SHIFT), shift)]

    def codebook_writes(self, codebook: Codebook) -> list[Write]:
        """Stage a codebook: K level writes (then ``commit_writes``)."""
        config, fmt = self.config, codebook.format
        if config.kind == "lognormal" and (fmt.mantissa_bits, fmt.exponent_bits) != (
            config.mantissa_bits,
            config.exponent_bits,
        ):
            raise UserError(
                f"codebook format m{fmt.mantissa_bits}e{fmt.exponent_bits} does not match the "
                f"core's m{config.mantissa_bits}e{config.exponent_bits}"
            )
        return self.level_writes(codebook.mantissas, codebook.exponents)

    def level_writes(self, mantissas: Iterable[int], exponents: Iterable[int]) -> list[Write]:
        """Stage K levels L[k] = mantissas[k] << exponents[k] (then ``commit_writes``)."""
        mantissas = np.asarray(list(mantissas), dtype=np.int64)
        exponents = np.asarray(list(exponents), dtype=np.int64)
        config = self.config
        if config.kind != "lognormal":
            raise UserError("an int8 core has no codebook")
        if mantissas.shape != (config.codebook_size,) or exponents.shape != mantissas.shape:
            raise UserError(
                f"the core's codebook has {config.codebook_size} levels: it takes "
                f"{config.codebook_size} mantissas and exponents, not {mantissas.size}"
            )
        fmt = config.level_format
        if mantissas.min() < 0 or mantissas.max() > fmt.max_mantissa:
            raise UserError(f"mantissas must be in 0..{fmt.max_mantissa}")
        if exponents.min() < 0 or exponents.max() > fmt.max_exponent:
            raise UserError(f"exponents must be in 0..{fmt.max_exponent}")
        return [
            (self._at(self.map.level_address(k)), int(m) | int(e) << EXPONENT_FIELD)
            for k, (m, e) in enumerate(zip(mantissas, exponents, strict=True))
        ]

    def commit_writes(self) -> list[Write]:
        return [(self._at(REG_CONTROL), CONTROL_COMMIT)]

    def bias_writes(self, bias: Iterable[int]) -> list[Write]:
        """Write every output's bias (signed, ``bias_bits``)."""
        return self._per_output_writes(bias, "bias", self.map.bias_address)

    def scale_writes(self, scales: Iterable[int]) -> list[Write]:
        """Write every output's channel scale (unsigned, ``scale_bits``)."""
        return self._per_output_writes(scales, "scale", self.map.scale_address)

    def _per_output_writes(self, values: Iterable[int], name: str, address) -> list[Write]:
        """One write an output of ``name`` (``bias``: signed, ``scale``: unsigned), checked
        against the core's width for it; ``UserError`` for a core without them."""
        values = np.asarray(list(values), dtype=np.int64)
        bits = getattr(self.config, f"{name}_bits")
        what = {"bias": "biases", "scale": "channel scales"}[name]
        if not bits:
            raise UserError(f"this core has no {'bias' if name == 'bias' else what}")
        if values.shape != (self.config.n_out,):
            raise UserError(f"{what} must have {self.config.n_out} values, not {values.shape}")
        low, high = (-(1 << (bits - 1)), 1 << (bits - 1)) if name == "bias" else (0, 1 << bits)
        if np.any(values < low) or np.any(values >= high):
            kind = "signed" if name == "bias" else "unsigned"
            raise UserError(f"{what} must be {bits}-bit {kind} integers")
        return [(self._at(address(o)), _word(v)) for o, v in enumerate(values)]

    def code_writes(self, stored: np.ndarray) -> list[Write]:
        """Write every connection: ``stored`` is (n_out, n_in) codes (lognormal) or int8
        weights (int8). ``UserError`` for an unrolled core, whose codes are its wiring."""
        if not self.config.codes_writable:
            raise UserError(
                f"the codes of an {self.config.datapath} core are baked into its logic: "
                "regenerate and rebuild it to change them (its levels, shift and biases stay "
                "tunable)"
            )
        stored = self.stored_words(stored)
        return [
            (self._at(self.map.code_address(o, i)), int(stored[o, i]))
            for o in range(self.config.n_out)
            for i in range(self.config.n_in)
        ]

    def packed_code_writes(self, stored: np.ndarray) -> list[Write]:
        """Write every connection, ``codes_per_word`` codes a write, through the packed
        region (a layer whose codes live in SPRAM): ``stored`` as for ``code_writes``."""
        if not self.map.has("packed_codes"):
            raise UserError("only a layer whose codes live in SPRAM has packed code writes")
        per_word_bits = self.map.codes_per_word * self.config.code_bits
        mask = (1 << per_word_bits) - 1
        writes = []
        for row, value in enumerate(pack_code_rows(self.config, self.stored_words(stored))):
            for word in range(_packed_words(self.config)):
                data = value >> word * per_word_bits & mask
                writes.append((self._at(self.map.packed_code_address(row, word)), data))
        return writes

    def stored_words(self, stored: np.ndarray) -> np.ndarray:
        """Check (n_out, n_in) codes or int8 weights and return them as unsigned words."""
        config = self.config
        stored = np.asarray(stored)
        if stored.shape != (config.n_out, config.n_in):
            raise UserError(
                f"the layer needs ({config.n_out}, {config.n_in}) codes, not {stored.shape}"
            )
        stored = stored.astype(np.int64)
        if config.kind == "int8":
            if np.any(stored < -128) or np.any(stored > 127):
                raise UserError("int8 weights must lie in [-128, 127]")
            return stored & 0xFF
        if np.any(stored < 0) or np.any(stored >= 1 << config.code_bits):
            raise UserError(f"codes do not fit the core's {config.code_bits} bits")
        return stored

    @staticmethod
    def decode_signed(word: int) -> int:
        """A bias read back (sign-extended to 32 bits) as a Python int."""
        word &= 0xFFFF_FFFF
        return word - (1 << 32) if word >> 31 else word

    @staticmethod
    def decode_status(word: int) -> dict[str, bool]:
        return {
            "commit_pending": bool(word & STATUS_COMMIT_PENDING),
            "busy": bool(word & STATUS_BUSY),
        }
