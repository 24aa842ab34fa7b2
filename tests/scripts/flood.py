"""Flood stdout with metric lines ``step=<i> loss=<v>``.

$HYPERSWEEP_PARAM_MODE (or $FLOOD_MODE): ``lines`` (default) writes $FLOOD_LINES lines
(1,000,000) as fast as it can, in blocks, waits (up to 20 s) for hypersweep's notice
about the flood and copies it to stderr, then writes one more, ``step=<n> loss=0.5``, and
exits 0; ``forever`` writes 5,000 lines every 0.05 s until it is stopped; ``hang`` prints one
line and sleeps.
"""

import os
import sys
import time

mode = os.environ.get("HYPERSWEEP_PARAM_MODE") or os.environ.get("FLOOD_MODE", "lines")
out = sys.stdout.buffer
if mode == "hang":
    out.write(b"step=0 loss=3\n")
    out.flush()
    time.sleep(600)
    sys.exit(0)
n = int(os.environ.get("FLOOD_LINES", "1000000"))
block = 10_000 if mode == "lines" else 5_000
i = 0
while mode == "forever" or i < n:
    k = block if mode == "forever" else min(block, n - i)
    out.write(b"".join(b"step=%d loss=%d.25\n" % (j, j % 97 + 1) for j in range(i, i + k)))
    out.flush()
    i += k
    if mode == "forever":
        time.sleep(0.05)
if mode == "lines":
    # what hypersweep told this trial about its flood (HYPERSWEEP_NOTICE_FILE), to stderr
    import hypersweep

    deadline = time.monotonic() + 20
    while not hypersweep.notices() and time.monotonic() < deadline:
        time.sleep(0.05)
    for line in hypersweep.notices():
        print("notice:", line, file=sys.stderr)
    out.write(b"step=%d loss=0.5\n" % i)
    out.flush()
