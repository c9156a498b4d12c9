// SB_SPRAM256KA, the iCE40 UltraPlus single-port RAM: a behavioural model for simulating
// the Verilog jaynes-hw emits (Verilator, Icarus). 16384 words of 16 bits; at a rising
// CLOCK edge with CHIPSELECT high (and STANDBY, SLEEP low, POWEROFF high): WREN high writes
// the nibbles MASKWREN enables, WREN low reads the word into DATAOUT. Starts from zeros
// (the device powers up with undefined contents: the codes are always written first).
module SB_SPRAM256KA (
    input [13:0] ADDRESS,
    input [15:0] DATAIN,
    input [3:0] MASKWREN,
    input WREN,
    input CHIPSELECT,
    input CLOCK,
    input STANDBY,
    input SLEEP,
    input POWEROFF,
    output reg [15:0] DATAOUT
);
  reg [15:0] words [0:16383];
  integer index;
  initial begin
    for (index = 0; index < 16384; index = index + 1) words[index] = 16'h0000;
    DATAOUT = 16'h0000;
  end
  wire active = CHIPSELECT && !STANDBY && !SLEEP && POWEROFF;
  always @(posedge CLOCK) begin
    if (active && WREN) begin
      if (MASKWREN[0]) words[ADDRESS][3:0] <= DATAIN[3:0];
      if (MASKWREN[1]) words[ADDRESS][7:4] <= DATAIN[7:4];
      if (MASKWREN[2]) words[ADDRESS][11:8] <= DATAIN[11:8];
      if (MASKWREN[3]) words[ADDRESS][15:12] <= DATAIN[15:12];
    end else if (active) begin
      DATAOUT <= words[ADDRESS];
    end
  end
endmodule
