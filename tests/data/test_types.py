"""Image loading: high-bit-depth, float and multi-band pictures scaled to 8-bit RGB, unreadable files named."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import tifffile
from PIL import Image

from ssclip.data.types import ImageReadError, load_image


def _ramp(dtype, high) -> np.ndarray:
    """A 16 x 16 ramp from 0 to ``high``: its stretch must span 0..255 evenly."""
    return (np.linspace(0, high, 256).reshape(16, 16)).astype(dtype)


def test_16_bit_png_is_stretched_not_white(tmp_path):
    path = tmp_path / "g16.png"
    values = _ramp(np.uint16, 4095)  # a 12-bit sensor in a 16-bit container
    Image.fromarray(values).save(path)
    assert Image.open(path).mode == "I;16"
    rgb = np.asarray(load_image(path))
    assert rgb.shape == (16, 16, 3) and rgb.dtype == np.uint8
    assert rgb.min() == 0 and rgb.max() == 255  # convert("RGB") gave all 255
    expected = np.rint(values / 4095 * 255).astype(np.uint8)
    np.testing.assert_array_equal(rgb[:, :, 0], expected)
    assert (rgb[:, :, 0] == rgb[:, :, 2]).all()


def test_float_tiff_is_stretched_and_nan_becomes_zero(tmp_path):
    path = tmp_path / "reflectance.tif"
    values = _ramp(np.float32, 0.3)
    values[0, 0] = np.nan
    tifffile.imwrite(path, values)
    rgb = np.asarray(load_image(path))
    assert rgb[0, 0, 0] == 0 and rgb.max() == 255  # convert("RGB") gave all 0
    assert rgb[8, 8, 0] == np.rint((values[8, 8] - values[0, 1]) / (0.3 - values[0, 1]) * 255)


def test_float_rgb_tiff_pillow_cannot_identify_is_read(tmp_path):
    path = tmp_path / "rgbf.tif"
    values = np.random.default_rng(0).random((8, 8, 3)).astype(np.float32)
    tifffile.imwrite(path, values, photometric="rgb")
    rgb = np.asarray(load_image(path)).astype(float)
    low, high = values.min(), values.max()
    np.testing.assert_allclose(rgb, np.rint((values - low) / (high - low) * 255), atol=1)


@pytest.mark.parametrize("dtype,high", [(np.uint8, 255), (np.uint16, 3000)])
def test_four_band_tiff_reads_its_first_three_bands_with_a_warning(tmp_path, dtype, high, monkeypatch):
    monkeypatch.setattr("ssclip.data.types._warned_band_counts", set())
    path = tmp_path / "rgbn.tif"
    values = np.zeros((8, 8, 4), dtype=dtype)
    values[:, :, 0], values[:, :, 3] = high, high // 2  # red and near-infrared
    values[0, 0, 1] = high // 3
    tifffile.imwrite(path, values, photometric="rgb")
    with pytest.warns(UserWarning, match="4 bands, read as its first three bands"):
        rgb = np.asarray(load_image(path))
    assert (rgb[:, :, 0] == 255).all() and rgb[1, 1, 1] == 0 and rgb[1, 1, 2] == 0  # no infrared in blue


def test_multiband_pages_are_read_as_bands(tmp_path, monkeypatch):
    """Pillow reads a band-per-page TIFF as its first page only, a grey picture: the bands must be found."""
    monkeypatch.setattr("ssclip.data.types._warned_band_counts", set())
    path = tmp_path / "ms.tif"
    values = np.zeros((6, 8, 8), dtype=np.uint16)
    values[1] = 1000  # the green band alone is bright
    tifffile.imwrite(path, values)
    with pytest.warns(UserWarning, match="6 bands"):
        rgb = np.asarray(load_image(path))
    assert (rgb[:, :, 1] == 255).all() and (rgb[:, :, 0] == 0).all()


def test_16_bit_rgb_tiff_is_not_truncated_to_its_high_byte(tmp_path):
    path = tmp_path / "rgb16.tif"
    values = np.full((4, 4, 3), 4000, dtype=np.uint16)
    values[0, 0] = 0
    tifffile.imwrite(path, values, photometric="rgb")
    rgb = np.asarray(load_image(path))
    assert rgb[1, 1].tolist() == [255, 255, 255] and rgb[0, 0].tolist() == [0, 0, 0]


def test_eight_bit_images_load_as_before(tmp_path):
    pixels = np.random.default_rng(1).integers(0, 256, (8, 8, 3), dtype=np.uint8)
    for name in ("a.png", "a.tif"):
        Image.fromarray(pixels).save(tmp_path / name)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            np.testing.assert_array_equal(np.asarray(load_image(tmp_path / name)), pixels)
    assert load_image(Image.fromarray(pixels)).mode == "RGB"


def _jpeg_bytes() -> bytes:
    import io

    buffer = io.BytesIO()
    Image.fromarray(np.random.default_rng(2).integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(buffer, "JPEG")
    return buffer.getvalue()


@pytest.mark.parametrize(
    "name,content,reason",
    [
        ("truncated.jpg", _jpeg_bytes()[:300], "truncated"),
        ("empty.jpg", b"", "0 bytes"),
        ("text.jpg", b"this is not a picture\n" * 20, "not an image"),
        ("garbage.tif", b"II*\x00" + bytes(range(256)) * 2, "TIFF not readable"),
    ],
)
def test_unreadable_images_raise_a_value_error_naming_the_file(tmp_path, name, content, reason):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(ImageReadError, match=reason) as err:
        load_image(path)
    assert str(path) in str(err.value) and isinstance(err.value, ValueError)
    assert err.value.path == path


def test_missing_image_is_named(tmp_path):
    with pytest.raises(ImageReadError, match="file not found"):
        load_image(tmp_path / "gone.png")
