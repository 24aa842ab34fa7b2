"""Write 30 numbered lines to stderr, one metric to stdout, then exit with code 3."""

import sys

print("loss=0.5", flush=True)
for i in range(30):
    print(f"stderr line {i}", file=sys.stderr)
sys.exit(3)
