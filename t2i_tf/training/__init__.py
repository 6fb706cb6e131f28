"""Training: the loop (`loop`), model folders and checkpoints, TensorBoard summaries and the
distribution strategies."""
