"""How a case is timed, and on what: the timing engine, the worker processes, the machine's calibration and
threads, and which dtypes a backend times. Imports only the library core: every suite and the harness build on it."""
