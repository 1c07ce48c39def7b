import torch

from pipeline.gan.samples import GRID_PADDING, grid_image, to_uint8


def test_to_uint8_maps_minus_one_to_one_onto_0_255():
    x = torch.tensor([-2.0, -1.0, 0.0, 1.0, 3.0])
    assert to_uint8(x).tolist() == [0, 0, 128, 255, 255]


def test_grid_is_about_square_with_white_gaps():
    images = torch.zeros(10, 3, 4, 4, dtype=torch.uint8)
    grid = grid_image(images)
    assert grid.size == (4 * 6 + 2, 3 * 6 + 2)
    assert grid.getpixel((0, 0)) == (255, 255, 255)  # the gap
    assert grid.getpixel((GRID_PADDING, GRID_PADDING)) == (0, 0, 0)  # the first image
