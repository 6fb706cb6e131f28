"""t2i_tf: Keras 3 implementation of DRAW / alignDRAW."""
