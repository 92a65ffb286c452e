"""BatchRandomCropFlip: the CPU pipeline's crop and flip, batched."""
import itertools
from collections import Counter

import numpy as np
import pytest
import torch
from mmcv.transforms import Compose

from mmunix.models.data_preprocessors import BatchRandomCropFlip
from mmunix.registry import MODELS, TRANSFORMS
from mmunix.utils import register_all_modules

SIZE, PAD = 32, 4
OFFSETS = list(itertools.product(range(2 * PAD + 1), repeat=2))


def coordinate_image() -> np.ndarray:
    """``(32, 32, 3)`` uint8: channel 0 is row + 1, channel 1 column + 1, so
    every pixel says where it came from and padding (0) is recognisable."""
    rows, cols = np.meshgrid(np.arange(SIZE), np.arange(SIZE), indexing='ij')
    return np.stack(
        [rows + 1, cols + 1, np.full_like(rows, 7)], axis=-1).astype(np.uint8)


def decode(image_chw: torch.Tensor) -> tuple:
    """``(dy, dx, flipped)`` of a crop of :func:`coordinate_image`.

    The centre pixel lies inside the image for every offset in [0, 8]²: its
    coordinates give the offset, its right neighbour the direction.
    """
    row, col = int(image_chw[0, 16, 16]) - 1, int(image_chw[1, 16, 16]) - 1
    flipped = int(image_chw[1, 16, 17]) - 1 == col - 1
    # Output row i shows padded row dy + i, i.e. image row dy + i - PAD;
    # output column j shows padded column dx + j, or dx + 31 - j if flipped.
    dy = row - 16 + PAD
    dx = col - (SIZE - 1 - 16) + PAD if flipped else col - 16 + PAD
    return dy, dx, flipped


def test_every_output_of_the_cpu_pipeline_is_the_batched_op_at_its_params():
    register_all_modules()
    pipeline = Compose([
        TRANSFORMS.build(dict(type='RandomCrop', crop_size=32, padding=4)),
        TRANSFORMS.build(
            dict(type='RandomFlip', prob=0.5, direction='horizontal')),
    ])
    augment = BatchRandomCropFlip(padding=PAD, flip_prob=0.5)
    image = coordinate_image()
    batch = torch.from_numpy(image).permute(2, 0, 1)[None]
    np.random.seed(0)
    outputs = torch.stack([
        torch.from_numpy(
            np.ascontiguousarray(pipeline(dict(img=image))['img'])).permute(
                2, 0, 1) for _ in range(3000)
    ])
    params = [decode(out) for out in outputs]
    dy, dx, flipped = (torch.tensor(values) for values in zip(*params))
    ours = augment.crop_flip(
        batch.expand(len(outputs), -1, -1, -1), dy, dx, flipped)
    assert torch.equal(ours, outputs)
    # The CPU pipeline reaches all 81 offsets, flipped and not.
    assert set(params) == {(y, x, f) for y, x in OFFSETS for f in (0, 1)}


def test_offsets_cover_minus_4_to_4_uniformly_and_flips_half_the_samples():
    torch.manual_seed(0)
    num = 81 * 200
    augment = MODELS.build(dict(type='BatchRandomCropFlip'))
    batch = torch.from_numpy(coordinate_image()).permute(2, 0, 1)
    out = augment(batch.expand(num, -1, -1, -1))
    params = [decode(image) for image in out]

    offsets = Counter((dy, dx) for dy, dx, _ in params)
    assert sorted(offsets) == OFFSETS
    # 200 expected per offset; 5 standard deviations is about +-70.
    assert min(offsets.values()) > 130 and max(offsets.values()) < 270
    flip_rate = sum(flipped for *_, flipped in params) / num
    assert flip_rate == pytest.approx(0.5, abs=0.015)


def test_keeps_dtype_and_shape_and_pads_with_zeros():
    images = torch.full((3, 2, 5, 6), 9, dtype=torch.uint8)
    augment = BatchRandomCropFlip(padding=2)
    out = augment.crop_flip(images, torch.tensor([0, 2, 4]),
                            torch.tensor([0, 2, 4]),
                            torch.tensor([False, False, True]))
    assert out.dtype == torch.uint8 and out.shape == images.shape
    # Offset 0 shifts the image down-right by 2: two zero rows and columns.
    assert out[0, :, :2].eq(0).all() and out[0, :, :, :2].eq(0).all()
    assert out[0, :, 2:, 2:].eq(9).all()
    assert torch.equal(out[1], images[1])  # the centre crop is the image
    # Offset 4 shifts up-left; the flip then mirrors the zero columns.
    assert out[2, :, 3:].eq(0).all() and out[2, :, :, :2].eq(0).all()


@pytest.mark.parametrize('kwargs', [
    dict(padding=-1),
    dict(padding=1.5),
    dict(padding=True),
    dict(flip_prob=1.5),
    dict(flip_prob=-0.1)
])
def test_bad_arguments_are_refused_with_their_value(kwargs):
    name, value = next(iter(kwargs.items()))
    with pytest.raises(ValueError, match=f'{name}={value!r}'):
        BatchRandomCropFlip(**kwargs)


def _draw_in_process(rank: int, port: int, out_dir: str) -> None:
    """One process of a 2-process gloo group: seed as MMEngine seeds every
    process, draw a batch's crops and flips, save their decoded params."""
    import torch.distributed as dist
    dist.init_process_group(
        'gloo', init_method=f'tcp://127.0.0.1:{port}', rank=rank, world_size=2)
    try:
        torch.manual_seed(0)
        batch = torch.from_numpy(coordinate_image()).permute(2, 0, 1)
        out = BatchRandomCropFlip()(batch.expand(32, -1, -1, -1))
        torch.save([decode(image) for image in out], f'{out_dir}/{rank}.pt')
    finally:
        dist.destroy_process_group()


@pytest.mark.slow
def test_every_ddp_process_draws_its_own_crops(tmp_path):
    import multiprocessing

    from conftest import free_port
    port = free_port()
    context = multiprocessing.get_context('spawn')
    processes = [
        context.Process(
            target=_draw_in_process, args=(r, port, str(tmp_path)))
        for r in range(2)
    ]
    for process in processes:
        process.start()
    for process in processes:
        process.join(60)
        assert process.exitcode == 0
    rank0, rank1 = (torch.load(tmp_path / f'{r}.pt') for r in range(2))
    assert rank0 != rank1
    # Rank 0 draws as a single process does with the same seed.
    torch.manual_seed(0)
    batch = torch.from_numpy(coordinate_image()).permute(2, 0, 1)
    single = BatchRandomCropFlip()(batch.expand(32, -1, -1, -1))
    assert rank0 == [decode(image) for image in single]
