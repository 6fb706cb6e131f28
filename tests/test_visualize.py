"""Pictures: grid layout, palette GIF frames with the write window boxed, row labels."""

import numpy as np
from PIL import Image

from t2i_tf import visualize


def test_grid_places_and_scales_images():
    images = np.zeros((3, 2, 2), np.float32)
    images[1] = 1.0
    out = visualize.grid(images, columns=3, pad=1, scale=2)
    assert out.shape == ((2 + 2) * 2, (3 * 3 + 1) * 2) and out.dtype == np.uint8
    assert (out[2:6, 8:12] == 255).all()  # image 1, magnified 2x, after the 1-pixel pad
    assert (out[2:6, 2:6] == 0).all() and out[0, 0] == 128  # image 0 and the grey pad


def test_frames_are_palette_images_with_red_boxes(tmp_path):
    steps, n, size, write_n = 2, 2, 20, 3
    canvases = np.full((steps, n, size, size), 0.5, np.float32)
    canvases[1, :, 15:, :3] = 1.0  # the second step draws something
    # Window centred on pixel 10 (1-indexed), stride 2: box from 0-indexed 7 to 11.
    windows = np.tile(np.array([10.0, 10.0, 2.0, 1.0, 1.0], np.float32), (steps, n, 1))
    frames = visualize.drawing_frames(canvases, windows, write_n, columns=2, scale=1)
    assert len(frames) == steps and frames[0].mode == "P"
    rgb = np.asarray(frames[0].convert("RGB"))
    red = (rgb[..., 0] == 255) & (rgb[..., 1] == 0)
    rows, cols = np.nonzero(red)
    assert (rows.min(), rows.max()) == (1 + 7, 1 + 11)  # top pad of 1
    assert (cols.min(), cols.max()) == (1 + 7, 1 + size + 1 + 11)  # both images boxed
    assert (rgb[1 + 3, 1 + 3] == 128).all()  # grey canvas pixels keep their level
    path = tmp_path / "d.gif"
    visualize.save_gif(str(path), frames)
    assert Image.open(path).n_frames == steps


def test_label_rows_adds_a_strip_with_text():
    image = np.full((2 * 21 + 1, 50), 128, np.uint8)
    out = visualize.label_rows(image, ["first row", "second"], row_height=21)
    assert out.shape[0] == image.shape[0] and out.shape[1] > image.shape[1]
    assert (out[:, -50:] == image).all()
    strip = out[:, :-50]
    assert strip[:21].max() > 200 and strip[22:].max() > 200  # text in both rows


def test_boxes_are_clipped_to_their_cell():
    images = np.zeros((2, 10, 10), np.float32)
    huge = [12.0, 5.0, 8.0, 1.0, 1.0]  # 0-indexed box x 3..19, y -4..12: past three edges
    gone = [-40.0, -40.0, 1.0, 1.0, 1.0]  # wholly off the canvas: no box at all
    out = visualize.boxed_grid(images, [(np.array([huge, gone], np.float32), 3,
                                          visualize.WRITE_COLOUR)], columns=2, pad=1, scale=1)
    red = (out[..., 0] == 255) & (out[..., 1] == 0)
    rows, cols = np.nonzero(red)
    assert (cols.min(), cols.max()) == (1 + 3, 1 + 9)  # inside cell 0, cut at its right edge
    assert rows.min() == 1 and rows.max() == 10  # clipped at the top and bottom edges


def test_colour_grid_labels_and_frames(tmp_path):
    # (n, H, W, 3) images (alignDRAW on COCO): RGB grids, labels and GIF frames
    images = np.zeros((2, 3, 4, 3), np.float32)
    images[0, ..., 0] = 1.0  # red
    images[1, ..., 2] = 1.0  # blue
    out = visualize.grid(images, columns=2, pad=1)
    assert out.shape == (5, 11, 3) and out.dtype == np.uint8
    np.testing.assert_array_equal(out[1:4, 1:5], np.broadcast_to([255, 0, 0], (3, 4, 3)))
    np.testing.assert_array_equal(out[1:4, 6:10], np.broadcast_to([0, 0, 255], (3, 4, 3)))
    assert (out[0] == 128).all()  # the grey padding
    labelled = visualize.label_rows(out, ["a red bus"], row_height=4)
    assert labelled.shape[0] == 5 and labelled.shape[2] == 3
    np.testing.assert_array_equal(labelled[:, -11:], out)
    canvases = np.stack([images * 0.5, images])  # (T, n, H, W, 3)
    windows = np.tile([2.5, 2.0, 1.0, 1.0, 1.0], (2, 2, 1))
    frames = visualize.drawing_frames(canvases, windows, write_n=2, columns=2, scale=4)
    assert len(frames) == 2 and frames[0].mode == "RGB"
    assert (255, 0, 0) in {c for _, c in frames[1].getcolors(10000)}  # a box was drawn
    visualize.save_gif(str(tmp_path / "d.gif"), frames)
    assert Image.open(tmp_path / "d.gif").n_frames == 2
