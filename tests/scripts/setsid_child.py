"""Leave processes behind that escape the trial's process group and session.

Starts ``setsid sleep 300`` (a new session), and a daemon that double-forks into a new
session and ignores SIGINT/SIGTERM; writes their pids, one a line, to ``children.pid`` in
the trial's directory, prints ``loss=1``, then (``--then=exit``) exits at once or
(``--then=wait``, default) sleeps until stopped.
"""

import os
import shutil
import signal
import subprocess
import sys
import time

then = next((a.split("=", 1)[1] for a in sys.argv[1:] if a.startswith("--then=")), "wait")
run_dir = os.environ["HYPERSWEEP_RUN_DIR"]
pids = []
if shutil.which("setsid"):
    pids.append(subprocess.Popen(["setsid", "sleep", "300"]).pid)
else:
    pids.append(subprocess.Popen(["sleep", "300"], start_new_session=True).pid)

r, w = os.pipe()
if os.fork() == 0:  # the daemon: fork, setsid, fork again, report the grandchild's pid
    os.close(r)
    os.setsid()
    pid = os.fork()
    if pid:
        os.write(w, str(pid).encode())
        os._exit(0)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    time.sleep(300)
    os._exit(0)
os.close(w)
pids.append(int(os.read(r, 32)))
with open(os.path.join(run_dir, "children.pid"), "w") as f:
    f.write("\n".join(map(str, pids)) + "\n")
print("loss=1", flush=True)
if then == "wait":
    time.sleep(300)
