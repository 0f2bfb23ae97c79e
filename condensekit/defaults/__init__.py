"""Plugins every run needs, written as ordinary plugins: SGD, TensorBoard, console, metrics.jsonl, local
executor."""
