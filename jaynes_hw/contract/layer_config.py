"""What one hardware layer is: its parameters and every width derived from them.

Pure Python (no Amaranth), shared by the gateware, the register map and driver, the
generator's manifest and the testbenches, so every one of them derives widths the same way.

Two kinds of layer core compute the same contract (``jaynes_hw.contract.reference``):

- ``lognormal``: each connection stores a ``code_bits`` code (sign on top, magnitude bin
  below); the K = 2^(code_bits-1) codebook registers hold levels L[k] = m[k] << e[k] with an
  unsigned ``mantissa_bits`` mantissa and an ``exponent_bits`` shift. ``mantissa_bits = 1``
  is the powers-of-two datapath (a shift, no multiplier); ``exponent_bits = 0`` plain
  fixed-point levels (a multiply).
- ``int8``: the conventional baseline. Each connection stores a two's complement 8-bit
  weight in [-128, 127] and multiplies it; there is no codebook (``max_level`` 128).
"""

from __future__ import annotations

from dataclasses import dataclass

from jaynes_hw.contract.codebook import LevelFormat, check_bits
from jaynes_hw.contract.reference import LayerArithmetic, accumulator_width
from jaynes_hw.support.errors import UserError

CORE_KINDS = ("lognormal", "int8")
# how a lognormal core makes its terms: folded (lanes outputs at a time, codes in memory) or
# unrolled (every output at once, codes baked into the wiring)
FOLDED_DATAPATHS = ("per_lane", "shared")
UNROLLED_DATAPATHS = ("unrolled", "unrolled_serial")
DATAPATHS = FOLDED_DATAPATHS + UNROLLED_DATAPATHS
DATAPATH_CHOICES = ("auto", *DATAPATHS)
MAX_PORT_DIMENSION = 65535  # n_in and n_out are read back in 16-bit register fields
BUS_DATA_BITS = 32
DEFAULT_LANES = 4  # a layer's lanes when its network description does not say
# where a folded core keeps its codes: block RAM (initialised by the bitstream) or the iCE40
# UltraPlus single-port RAM (SB_SPRAM256KA: 16384 x 16 bits, nibble write masks, four on the
# UP5K; loaded through the configuration port, ``jaynes_hw.gateware.code_memory``)
CODE_MEMORIES = ("block", "spram")
SPRAM_DEPTH, SPRAM_WIDTH, SPRAM_BLOCKS_UP5K = 16384, 16, 4


def check_core(kind: str) -> str:
    """``kind`` if it is one of ``CORE_KINDS``; otherwise ``UserError`` naming the choices."""
    if kind not in CORE_KINDS:
        raise UserError(f"unknown core {kind!r}; expected one of {', '.join(CORE_KINDS)}")
    return kind


def choose_datapath(
    requested: str, kind: str, lanes: int, mantissa_bits: int, codebook_size: int
) -> str:
    """The datapath a core gets: ``requested`` unless it is ``auto``.

    ``auto`` rule: ``shared`` when the levels need a multiplier (``mantissa_bits > 1``) and
    the core has more lanes than levels (``lanes > K``), since then K shared multipliers and a
    K:1 select per lane cost less than a multiplier per lane; otherwise ``per_lane``. int8
    cores and powers of two (a lane's shifter is smaller than a K:1 select of products) are
    always ``per_lane``.
    """
    if requested not in DATAPATH_CHOICES:
        raise UserError(
            f"unknown datapath {requested!r}; expected one of {', '.join(DATAPATH_CHOICES)}"
        )
    if requested != "auto":
        return requested
    if kind == "lognormal" and mantissa_bits > 1 and lanes > codebook_size:
        return "shared"
    return "per_lane"


def _positive(name: str, value: object, limit: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= limit:
        raise UserError(f"{name} must be an integer from 1 to {limit}, not {value!r}")
    return value


@dataclass(frozen=True)
class LayerConfig:
    """Parameters of one layer core.

    Attributes
    ----------
    kind : str
        ``lognormal`` (codes + codebook registers) or ``int8`` (stored int8 weights).
    n_in, n_out : int
        Inputs per vector and outputs per vector (1..65535).
    lanes : int
        Output neurons computed in parallel (1..n_out); the layer makes
        ``passes = ceil(n_out / lanes)`` passes over each input vector.
    act_bits, out_bits : int
        Signed input and output widths (2..16).
    code_bits : int
        Stored bits per connection (``lognormal``: 2..8, default 4; ``int8``: always 8).
    mantissa_bits, exponent_bits : int
        Codebook register format (``lognormal`` only).
    bias_bits : int
        Signed per-output bias width, 0 for no bias.
    scale_bits : int
        Unsigned per-output channel scale width (0..16), 0 for none: the finish stage
        multiplies an output's sum by its scale before the bias (folded datapaths only).
    relu : bool
        Apply max(0, .) after saturation.
    datapath : str
        Folded: ``per_lane`` (a multiplier or shifter per lane) or ``shared`` (the K products
        made once per beat, a K:1 select per lane); ``auto`` is resolved at construction by
        ``choose_datapath``. int8 cores are ``per_lane``. Unrolled (lognormal only): every
        output computed at once from a whole input vector, the codes baked into per-bin
        adder trees (``jaynes_hw.gateware.unrolled``); ``unrolled`` makes an output's K level
        products in parallel (a vector every cycle), ``unrolled_serial`` one a cycle through
        one multiplier (a vector every K cycles). An unrolled core's ``lanes`` is ``n_out``.
    """

    kind: str
    n_in: int
    n_out: int
    lanes: int = 1
    act_bits: int = 8
    out_bits: int = 8
    code_bits: int | None = None  # default: 4 (lognormal), 8 (int8)
    mantissa_bits: int = 6
    exponent_bits: int = 2
    bias_bits: int = 0
    relu: bool = False
    datapath: str = "auto"
    code_memory: str = "block"
    scale_bits: int = 0

    def __post_init__(self) -> None:
        check_core(self.kind)
        if self.code_bits is None:
            object.__setattr__(self, "code_bits", 8 if self.kind == "int8" else 4)
        _positive("n_in", self.n_in, MAX_PORT_DIMENSION)
        _positive("n_out", self.n_out, MAX_PORT_DIMENSION)
        _positive("lanes", self.lanes, MAX_PORT_DIMENSION)
        if self.lanes > self.n_out:
            raise UserError(f"lanes ({self.lanes}) cannot exceed n_out ({self.n_out})")
        for name in ("act_bits", "out_bits"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not 2 <= value <= 16:
                raise UserError(f"{name} must be an integer from 2 to 16, not {value!r}")
        if isinstance(self.bias_bits, bool) or self.bias_bits not in range(0, 33):
            raise UserError(f"bias_bits must be 0 (no bias) to 32, not {self.bias_bits!r}")
        if isinstance(self.scale_bits, bool) or self.scale_bits not in range(0, 17):
            raise UserError(
                f"scale_bits must be 0 (no channel scales) to 16, not {self.scale_bits!r}"
            )
        if not isinstance(self.relu, bool):
            raise UserError(f"relu must be true or false, not {self.relu!r}")
        if self.kind == "int8":
            if self.code_bits != 8:
                raise UserError(f"an int8 core stores 8-bit weights, not {self.code_bits}-bit")
        else:
            check_bits(self.code_bits)
            LevelFormat(self.mantissa_bits, self.exponent_bits)  # validates both
        if self.lanes * self.code_bits > 4096:
            raise UserError(f"lanes ({self.lanes}) too many: a memory row would be over 4096 bits")
        datapath = choose_datapath(
            self.datapath, self.kind, self.lanes, self.mantissa_bits, self.codebook_size
        )
        if self.kind == "int8" and datapath == "shared":
            raise UserError("an int8 core has no codebook to share products of: per_lane only")
        if self.kind == "int8" and datapath in UNROLLED_DATAPATHS:
            raise UserError("an unrolled core needs codes and a codebook: lognormal only")
        object.__setattr__(self, "datapath", datapath)
        if self.unrolled and self.scale_bits:
            raise UserError("channel scales need a folded datapath (per_lane or shared)")
        if self.unrolled:
            object.__setattr__(self, "lanes", self.n_out)
            if self.n_out * self.code_bits > 4096:
                raise UserError(
                    f"n_out ({self.n_out}) too large for an unrolled core: a code row would be "
                    "over 4096 bits"
                )
        self._check_code_memory()
        # LayerArithmetic checks the accumulator bound (at most 63 bits).
        self.arithmetic()

    def _check_code_memory(self) -> None:
        if self.code_memory not in CODE_MEMORIES:
            raise UserError(
                f"unknown code_memory {self.code_memory!r}; expected one of "
                f"{', '.join(CODE_MEMORIES)}"
            )
        if self.code_memory == "block":
            return
        if self.unrolled:
            raise UserError("an unrolled core's codes are its wiring: code_memory = 'block' only")
        if self.code_bits % 4:
            raise UserError(
                f"SPRAM writes whole 4-bit nibbles: code_memory = 'spram' takes 4- or 8-bit "
                f"codes, not {self.code_bits}-bit"
            )
        if self.lanes * self.code_bits > SPRAM_BLOCKS_UP5K * SPRAM_WIDTH:
            raise UserError(
                f"a row of {self.lanes} {self.code_bits}-bit codes is wider than the four "
                f"SPRAM blocks ({SPRAM_BLOCKS_UP5K * SPRAM_WIDTH} bits): at most "
                f"{SPRAM_BLOCKS_UP5K * SPRAM_WIDTH // self.code_bits} lanes"
            )
        if self.spram_blocks > SPRAM_BLOCKS_UP5K:
            raise UserError(
                f"the codes need {self.spram_blocks} SPRAM blocks ({self.code_rows} rows of "
                f"{self.lanes * self.code_bits} bits); an iCE40 UltraPlus has "
                f"{SPRAM_BLOCKS_UP5K}: use more lanes"
            )

    @property
    def spram_blocks_wide(self) -> int:
        """SPRAM blocks side by side for one code row (16 bits each)."""
        return -(-self.lanes * self.code_bits // SPRAM_WIDTH)

    @property
    def spram_banks(self) -> int:
        """Banks of ``spram_blocks_wide`` blocks for ``code_rows`` rows (16384 each)."""
        return -(-self.code_rows // SPRAM_DEPTH)

    @property
    def spram_blocks(self) -> int:
        """SB_SPRAM256KA blocks the codes take (0 in block RAM)."""
        if self.code_memory != "spram":
            return 0
        return self.spram_blocks_wide * self.spram_banks

    # --- the arithmetic -----------------------------------------------------------------

    @property
    def level_format(self) -> LevelFormat:
        """Codebook register format (``lognormal`` only)."""
        if self.kind != "lognormal":
            raise TypeError("an int8 core has no codebook")
        return LevelFormat(self.mantissa_bits, self.exponent_bits)

    @property
    def codebook_size(self) -> int:
        """K, the codebook registers (0 for ``int8``)."""
        return 1 << (self.code_bits - 1) if self.kind == "lognormal" else 0

    @property
    def max_level(self) -> int:
        """Largest weight magnitude any register or stored weight can give."""
        return self.level_format.max_level if self.kind == "lognormal" else 128

    @property
    def level_bits(self) -> int:
        """Width of a weight magnitude as an unsigned integer."""
        return self.max_level.bit_length()

    @property
    def product_bits(self) -> int:
        """Signed width of one term s * L * x: |x| <= 2^(A-1) and L <= max_level."""
        return (self.max_level << (self.act_bits - 1)).bit_length() + 1

    @property
    def accumulator_bits(self) -> int:
        """Signed accumulator width: no input, code or register value can overflow it."""
        return self.arithmetic().accumulator_width

    @property
    def sum_bits(self) -> int:
        """Signed width of a lane's accumulator and bank entry: the terms without the bias,
        which join in the shared finish stage (``accumulator_bits`` wide),
        with the channel scale."""
        return accumulator_width(self.n_in, self.act_bits, self.max_level)

    @property
    def max_shift(self) -> int:
        """Largest useful output shift: beyond the accumulator width every result is 0."""
        return self.accumulator_bits

    @property
    def shift_bits(self) -> int:
        """Width of the shift register (holds 0..max_shift)."""
        return self.max_shift.bit_length()

    def arithmetic(self, shift: int = 0) -> LayerArithmetic:
        """The reference contract this core implements, at output shift ``shift``."""
        return LayerArithmetic(
            n_in=self.n_in,
            n_out=self.n_out,
            act_bits=self.act_bits,
            out_bits=self.out_bits,
            shift=shift,
            relu=self.relu,
            bias_bits=self.bias_bits,
            max_level=self.max_level,
            scale_bits=self.scale_bits,
        )

    @property
    def unrolled(self) -> bool:
        """Every output at once, codes baked into the logic (``UNROLLED_DATAPATHS``)."""
        return self.datapath in UNROLLED_DATAPATHS

    @property
    def codes_writable(self) -> bool:
        """Whether the configuration port can rewrite the codes (not when they are wiring)."""
        return not self.unrolled

    # --- folding ------------------------------------------------------------------------

    @property
    def passes(self) -> int:
        """Passes over each input vector: ceil(n_out / lanes)."""
        return -(-self.n_out // self.lanes)

    @property
    def last_pass_lanes(self) -> int:
        """Outputs the final pass produces (``lanes`` unless lanes does not divide n_out)."""
        return self.n_out - (self.passes - 1) * self.lanes

    @property
    def code_rows(self) -> int:
        """Depth of the code memory: one row of ``lanes`` codes per (pass, input)."""
        return self.passes * self.n_in

    def code_row(self, output: int, index: int) -> tuple[int, int]:
        """(row, lane) of connection (output, input ``index``) in the code memory."""
        return (output // self.lanes) * self.n_in + index, output % self.lanes

    # --- timing -------------------------------------------------------------------------

    # Pipeline: issue, memory outputs registered (read), decode or products (s1), term (s2),
    # accumulate (s3), into the bank (s4, the idle cycle after a pass), then the shared
    # finish unit: + rounding (f0), + bias (f1), >> S (f2), saturated (f3) into the output
    # queue, whose head is y two cycles later. With channel scales the finish unit has one
    # stage more: the sum (f0), times the scale beside bias + rounding (f1), their sum (f2),
    # >> S (f3), saturated (f4).
    BANK_SLACK = 6  # cycles from a pass's last beat issuing until its sums can leave the bank
    UNROLLED_GROUP_OUTPUTS = 4  # unrolled: outputs reading one copy of the shared registers
    # unrolled: groups from which the groups run a cycle apart along the inputs' delay line
    # (fewer are close enough to one input register; the iCE40 pays a cell per copied bit)
    UNROLLED_SKEW_MIN_GROUPS = 4

    @property
    def finish_stages(self) -> int:
        """Registered stages from the bank's head to the output queue's input."""
        return 5 if self.scale_bits else 4

    @property
    def pipeline_latency(self) -> int:
        """Folded: cycles from a pass's last input beat issuing to its first result on y
        (12; 13 with channel scales)."""
        return 8 + self.finish_stages

    @property
    def cycles_per_pass(self) -> int:
        """``n_in`` beats and the idle cycle in which the accumulators empty into the bank."""
        return self.n_in + 1

    @property
    def cycles_per_vector(self) -> int:
        """Cycles between vectors at full rate: folded ``passes * (n_in + 1)``; unrolled 1
        (``unrolled``) or K (``unrolled_serial``), whole vectors in and out."""
        if self.datapath == "unrolled":
            return 1
        if self.datapath == "unrolled_serial":
            return self.codebook_size
        return self.passes * self.cycles_per_pass

    @property
    def latency_cycles(self) -> int:
        """Cycles from a vector's last input taken to its first result on ``y`` (folded:
        ``pipeline_latency``; unrolled: at most, ``unrolled_latency`` for the deepest adder
        tree the layer's codes could need, all n_in connections of an output in one bin)."""
        if not self.unrolled:
            return self.pipeline_latency
        return self.unrolled_latency(max(self.n_in - 1, 0).bit_length())

    @property
    def product_stages(self) -> int:
        """Registered levels of an unrolled core's level product S * L: a shifter for powers
        of two, else the mantissa's partial products' tree and then the exponent's shift."""
        if self.mantissa_bits == 1:
            return 1
        return max(self.mantissa_bits - 1, 0).bit_length() + 1

    @property
    def unrolled_groups(self) -> int:
        """Groups of ``UNROLLED_GROUP_OUTPUTS`` outputs of an unrolled core, each reading its
        own copy of the active registers (and, ``unrolled``, of the input vector)."""
        return -(-self.n_out // self.UNROLLED_GROUP_OUTPUTS)

    @property
    def unrolled_skew(self) -> int:
        """Cycles the last group of an ``unrolled`` core's outputs runs behind the first:
        ``unrolled_groups - 1`` from ``UNROLLED_SKEW_MIN_GROUPS`` groups, else 0."""
        if self.datapath != "unrolled" or self.unrolled_groups < self.UNROLLED_SKEW_MIN_GROUPS:
            return 0
        return self.unrolled_groups - 1

    def unrolled_latency(self, tree_depth: int) -> int:
        """An unrolled core's latency with adder trees ``tree_depth`` levels deep: the input
        register, the trees, the products (a shifter, or the mantissa's partial products and
        the exponent's shift), the K products' sum (serial: the select, K cycles of
        products and the accumulator), the finish stages (5), the last group's skew
        (``unrolled_skew``) and the output queue (3: the slices gathered, then the queue's
        2)."""
        products = self.product_stages
        if self.datapath == "unrolled":
            levels = max(self.codebook_size - 1, 0).bit_length()
        else:
            levels = self.codebook_size + 1
        return 1 + tree_depth + products + levels + 5 + self.unrolled_skew + 3

    @property
    def full_rate(self) -> bool:
        """Whether the core sustains its ``cycles_per_vector``: needs n_in >= lanes + 5.

        A pass's sums reach the output bank 6 cycles after its last beat issues and drain from
        there one per cycle (``lanes`` cycles) while the next pass computes (``n_in + 1``
        cycles after the last beat); the next pass may issue its own last beat only once the
        bank is empty.
        """
        return self.unrolled or self.cycles_per_pass >= self.lanes + self.BANK_SLACK

    def to_json(self) -> dict:
        """The parameters (``from_json`` reads them back) and every derived figure."""
        parameters = {name: getattr(self, name) for name in PARAMETERS}
        if self.kind != "lognormal":  # no codebook: the register format means nothing
            del parameters["mantissa_bits"], parameters["exponent_bits"]
        return parameters | {
            "passes": self.passes,
            "max_level": self.max_level,
            "accumulator_bits": self.accumulator_bits,
            "max_shift": self.max_shift,
            "latency_cycles": self.latency_cycles,
            "cycles_per_vector": self.cycles_per_vector,
            "macs_per_cycle": self.n_in * self.n_out / self.cycles_per_vector,
            "full_rate": self.full_rate,
            "codes_writable": self.codes_writable,
            "codes_loaded_at_start": self.code_memory == "spram",
            "spram_blocks": self.spram_blocks,
            "vector_streams": self.unrolled,
        }

    @classmethod
    def from_json(cls, document: dict) -> LayerConfig:
        """The config ``to_json`` describes; derived figures in ``document`` are ignored.

        Raises ``UserError`` for parameters out of range, ``KeyError`` when ``kind``,
        ``n_in`` or ``n_out`` is missing (the others have defaults).
        """
        optional = {name: document[name] for name in PARAMETERS[3:] if name in document}
        return cls(document["kind"], document["n_in"], document["n_out"], **optional)


# Parameters in the order the manifest lists them; the rest of ``to_json`` derives from them.
PARAMETERS = (
    "kind",
    "n_in",
    "n_out",
    "lanes",
    "act_bits",
    "out_bits",
    "code_bits",
    "bias_bits",
    "scale_bits",
    "relu",
    "mantissa_bits",
    "exponent_bits",
    "datapath",
    "code_memory",
)


def network_vector_period(configs: list[LayerConfig], vector_ports: bool = False) -> int:
    """Cycles between vectors of layers chained as ``jaynes_hw.gateware.network.Network``
    chains them, at full rate with ``y`` always ready: the slowest layer's
    ``cycles_per_vector`` or, on element streams (``vector_ports`` False at the network's
    ends, and wherever a folded layer meets an unrolled one), the adapter of an unrolled
    layer that takes or gives one value a cycle: n_in cycles in, n_out out."""
    periods = [config.cycles_per_vector for config in configs]
    for index, config in enumerate(configs):
        if not config.unrolled:
            continue
        before_unrolled = configs[index - 1].unrolled if index else vector_ports
        after_unrolled = configs[index + 1].unrolled if index + 1 < len(configs) else vector_ports
        if not before_unrolled:
            periods.append(config.n_in)
        if not after_unrolled:
            periods.append(config.n_out)
    return max(periods)
