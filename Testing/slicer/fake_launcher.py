"""A stand-in for CTKAppLauncher (what ``PythonSlicer`` is): start the rest of the command line as a
child process, wait for it and exit with its code. Like CTKAppLauncher it does not pass signals on:
SIGTERM ends the launcher and leaves the child running. The child's process id is written to the
file named by ``$FAKE_LAUNCHER_PID_FILE`` so that a test can check whether the real worker survived.
"""

import os
import subprocess
import sys

child = subprocess.Popen(sys.argv[1:])
pid_file = os.environ.get("FAKE_LAUNCHER_PID_FILE")
if pid_file:
    with open(pid_file + ".tmp", "w") as handle:
        handle.write(str(child.pid))
    os.replace(pid_file + ".tmp", pid_file)
sys.exit(child.wait())
