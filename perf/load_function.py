"""Run by perf/import_time.py in a fresh interpreter: load one function module the way
functions-framework does (by file path) and print two times in seconds, the import of
functions_framework and then the load of the module.

    python perf/load_function.py functions/<name>/main.py
"""
import importlib.util
import os
import sys
import time

# the repository root, as deployed (os, not pathlib: importtime should show the function's imports)
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
t0 = time.perf_counter()
import functions_framework  # noqa: E402,F401
t1 = time.perf_counter()
spec = importlib.util.spec_from_file_location("main", sys.argv[1])
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
t2 = time.perf_counter()
print(t1 - t0, t2 - t1)
