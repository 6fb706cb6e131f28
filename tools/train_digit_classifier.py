"""Trains the MNIST digit classifier that reads generated canvases (the caption-accuracy
metric, t2i_tf/metrics/caption_accuracy.py) and ships it as models/mnist_digit_classifier.

  python tools/train_digit_classifier.py [--data_dir=...] [--out=models/mnist_digit_classifier]

Training digits: MNIST train [0:50000] (the captioned-MNIST training source) and blurred
copies; the card reports accuracy on MNIST t10k, clean and blurred.
"""

import datetime
import os
import platform
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from absl import app, flags  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_string("data_dir", None, "Data folder; default $T2I_DATA_DIR or ../shared/data.")
flags.DEFINE_string("out", None, "Output folder; default models/mnist_digit_classifier.")
flags.DEFINE_integer("epochs", 4, "Training epochs.")
flags.DEFINE_integer("seed", 0, "Seed.")


def main(argv):
    del argv
    import keras
    import numpy as np

    from t2i_tf.data.mnist import load_mnist
    from t2i_tf.metrics import caption_accuracy as ca
    from t2i_tf.training import checkpoint

    out = FLAGS.out or os.path.join(checkpoint.SHIPPED_MODELS_DIR, ca.CLASSIFIER)
    images, labels = load_mnist(FLAGS.data_dir, "train")
    test_images, test_labels = load_mnist(FLAGS.data_dir, "test")
    x, y = images[:50000] / np.float32(255), labels[:50000]
    start = time.time()
    model = ca.train_classifier(x, y, FLAGS.epochs, FLAGS.seed)
    wall = time.time() - start
    ca.save_classifier(out, model)
    classify = ca.load_classifier(out)
    t = test_images / np.float32(255)
    rng = np.random.default_rng(1)
    clean = float(np.mean(np.argmax(classify(t), -1) == test_labels))
    blurred = float(np.mean(np.argmax(classify(ca.blur(t, rng.uniform(0, 1.5, len(t)))), -1)
                            == test_labels))
    command = "python tools/train_digit_classifier.py " + " ".join(sys.argv[1:])
    with open(os.path.join(out, "README.md"), "w") as f:
        f.write(f"""# {ca.CLASSIFIER}

The digit reader of the caption-accuracy metric (t2i_tf/metrics/caption_accuracy.py): an MLP
784-256-10 (ReLU) over 28x28 digits in [0, 1], weights in weights.npz (w0, b0, w1, b1).
Not a generative model; it only scores what the caption models draw.

- Command: `{command.strip()}` (backend {keras.backend.backend()}, {datetime.date.today()})
- Data: MNIST train [0:50000] and one blurred copy of each (Gaussian, sigma uniform in
  [0, 1.5]); Adam 1e-3, batch 128, {FLAGS.epochs} epochs, seed {FLAGS.seed}
- Wall time: {wall:.0f} s on {platform.machine()}, {os.cpu_count()} CPU cores
- MNIST t10k accuracy: {100 * clean:.2f}% clean, {100 * blurred:.2f}% blurred (sigma uniform
  in [0, 1.5])
""")
    print(f"{out}: t10k accuracy {100 * clean:.2f}% clean, {100 * blurred:.2f}% blurred")


if __name__ == "__main__":
    app.run(main)
