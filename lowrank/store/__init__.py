"""Reading and storing result files: loading and validation against the record, export, atomic writes."""
