"""Entry point of `python -m benchmarks`: pins thread counts and CPUs, then runs the suite."""
import os
import sys

from benchmarks import threads

# Before run.py imports numpy: thread pools read these settings once, when they start.
os.environ.update(threads.environment(threads.requested(sys.argv[1:])))
threads.pin_cpus(threads.requested(sys.argv[1:]))

from benchmarks.run import main

raise SystemExit(main())
