"""Reading and storing result files: loading and validation, baselines, export, atomic writes, default paths."""
