"""Keras layers, one file per paper component, written in keras.ops only."""
