"""Models built from t2i_tf.layers; `registry` maps a name to a class."""
