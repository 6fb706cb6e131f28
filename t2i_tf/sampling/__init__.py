"""Compiled generation: the DRAW models' prior samplers and the pixel models' samplers
(`samplers`), over greedy, ancestral and beam search of a next-step function
(`step_samplers`)."""
