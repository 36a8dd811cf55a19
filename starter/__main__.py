import os
import sys

from starter.cli.main import main

code = main()
sys.stdout.flush()
sys.stderr.flush()
# The Temporal client's Rust threads may still call into Python while the interpreter
# finalizes ("PyGILState_Release ... finalizing", abort): exit without finalizing instead.
os._exit(code)
