"""Helpers the tests share (none of them is a test): synthetic weight populations, weight
files written by each format's own library, random layer cores with their reference,
Amaranth-simulator stream and bus drivers, repository paths, and the FPGA baseline builds."""
