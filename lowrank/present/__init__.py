"""Presenting results: the document model, tables, plots, per-suite sections and every report."""
