"""Small memories asked to be block RAM.

Yosys builds a memory of a few dozen bits from flip-flops on the iCE40, which has no
distributed RAM: a logic cell a bit plus the write and read selects, on the device whose
5,280 logic cells run out long before its 30 block RAMs (four 8-entry result queues of the
digits CNN were about 300 cells). The small memories every folded core and every link
between layers has (the output queue, the replayed inputs, the queue between layers) are
therefore marked ``ram_style = "block"``, an attribute Yosys honours on every family: on
the ECP5 each takes a DP16KD (the 85F has 208) instead of distributed RAM.
"""

IN_BLOCK_RAM = {"ram_style": "block"}
