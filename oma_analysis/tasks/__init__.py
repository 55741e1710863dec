"""Labelling batches: completions -> blinded Label Studio tasks, code map and manifest."""
