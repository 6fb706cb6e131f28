"""Evaluation, the library behind t2i_tf.evaluate: what may be asked (`requests`), the
examples scored (`examples`), one function per metric (`scoring`) and the table (`table`)."""
