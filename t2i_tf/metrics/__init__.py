"""Evaluation metrics: variational bound, importance-sampled likelihood."""
