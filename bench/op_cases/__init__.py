"""Benchmark cases for ``bench/ops.py``, one module per operator area.

Each module defines ``CASES``: a list of dicts with keys
``op`` (registered name), ``params`` (keyword parameters), ``inputs`` (list of input shapes in
slot order: arguments then aux states), optional ``dtype`` (default float32) and ``naive``:
a function taking the input numpy arrays (same order) and returning the output(s), written
as a plain numpy expression of the op (loops where numpy has no single call).
"""
