"""Serving: the SavedModel module that export writes, the REST server and its codec, and the
web page of t2i_tf.serve (static/)."""
