"""Verilog verification: cocotb testbench, its numpy model, and the runner."""
