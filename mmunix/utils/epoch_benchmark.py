"""Wall-clock time of real training iterations: mmunix's Runner against a plain
PyTorch loop, KD against UNIX.

:mod:`mmunix.utils.benchmark` times single training steps on one resident
batch. This module times what a user's epoch does: the config's train loop
(MMEngine ``Runner``, dataloader workers, data preprocessor, hooks, logging)
for ``iters`` iterations after ``warmup``, with one device synchronisation at
each end of the window and none in between. Next to it runs an independent
plain-PyTorch loop of the same work: the same images through torchvision
transforms in a ``torch.utils.data.DataLoader`` with the same workers and
batch size, the same teacher and student, SGD, and the KD or UNIX step of
:class:`~mmunix.utils.benchmark.PlainKDStep` /
:class:`~mmunix.utils.benchmark.PlainUNIXStep`. The four runs (KD and UNIX,
mmunix and plain) alternate round by round, each round starting one run
later, so that a busy machine slows all of them alike.

The dataloaders are also timed alone, without a model, for their samples per
second per worker.
"""
import copy
import itertools
import logging
import os.path as osp
import statistics
import tempfile
import time
from typing import List, Optional, Sequence

import numpy as np
import torch
from mmengine.config import Config
from mmengine.device import get_device
from mmengine.hooks import Hook
from mmengine.runner import Runner
from torch.utils.data import DataLoader, Dataset

from mmunix.utils.benchmark import (PlainKDStep, PlainUNIXStep,
                                    build_distillers,
                                    model_preprocessor_config,
                                    unix_flops_ratio)
from mmunix.utils.compute_cost import ComputeCost

#: The timed runs, in the order of the first round.
RUNS = ('kd', 'unix', 'plain_kd', 'plain_unix')
LABELS = dict(
    kd='KD (mmunix Runner)',
    unix='UNIX (mmunix Runner)',
    plain_kd='KD (plain PyTorch)',
    plain_unix='UNIX (plain PyTorch)')
#: ``optim_wrapper`` settings of ``--amp``. bfloat16 needs no loss scaling,
#: and a disabled scaler spares the host sync of its inf check.
AMP_SETTINGS = dict(
    fp16=dict(dtype='float16', loss_scale='dynamic'),
    bf16=dict(dtype='bfloat16', loss_scale=dict(enabled=False)))


def _synchronize(device: str) -> None:
    if device.startswith('cuda'):
        torch.cuda.synchronize()


class _WindowTimer(Hook):
    """Wall-clock seconds of iterations ``warmup + 1 ..

    warmup + iters``, each end synchronised with the device, and the seconds
    those iterations waited for their batch.
    """
    priority = 'LOWEST'  # after every other hook of the iteration

    def __init__(self, warmup: int, iters: int, device: str):
        self.warmup, self.iters, self.device = warmup, iters, device
        self.start = self.seconds = None
        self.data_wait = 0.
        self._ended = None  # when the previous iteration's last hook ended

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        # From the end of the previous iteration, after the window's sync,
        # to here: fetching the batch, as the plain loop's next(loader).
        if self.start is not None and self.seconds is None:
            self.data_wait += time.perf_counter() - self._ended

    def after_train_iter(self,
                         runner,
                         batch_idx,
                         data_batch=None,
                         outputs=None):
        done = runner.iter + 1
        if done == self.warmup:
            _synchronize(self.device)
            self.start = time.perf_counter()
        elif done == self.warmup + self.iters:
            _synchronize(self.device)
            self.seconds = time.perf_counter() - self.start
        self._ended = time.perf_counter()


def runner_config(cfg: Config, preprocessor: dict, work_dir: str, name: str,
                  num_samples: int) -> Config:
    """``cfg`` for one timed mmunix run: one epoch of ``num_samples`` images, a
    random teacher, no validation, no checkpoints, warnings only in the log."""
    cfg = copy.deepcopy(cfg)
    cfg.data_preprocessor = preprocessor
    cfg.model.pop('data_preprocessor', None)
    cfg.model.teacher_ckpt = None
    cfg.train_dataloader.dataset.indices = num_samples
    # One epoch: persistence would change nothing in the window, and a
    # collected Runner's persistent workers miss their shutdown signal and
    # are killed after 5 s each.
    cfg.train_dataloader.persistent_workers = False
    cfg.train_cfg = dict(by_epoch=True, max_epochs=1)
    cfg.val_cfg = cfg.val_dataloader = cfg.val_evaluator = None
    cfg.test_cfg = cfg.test_dataloader = cfg.test_evaluator = None
    cfg.default_hooks.checkpoint = None
    cfg.load_from, cfg.resume = None, False
    cfg.launcher = 'none'
    cfg.log_level = 'WARNING'
    cfg.work_dir = osp.join(work_dir, name)
    cfg.experiment_name = name
    return cfg


def time_runner(cfg: Config, warmup: int, iters: int) -> dict:
    """Train with MMEngine's Runner and time the window."""
    runner = Runner.from_cfg(cfg)
    timer = _WindowTimer(warmup, iters, get_device())
    runner.register_hook(timer)
    try:
        runner.train()
    finally:
        # MMEngine keeps every logger: close this one's log file.
        for handler in list(runner.logger.handlers):
            if isinstance(handler, logging.FileHandler):
                handler.close()
                runner.logger.removeHandler(handler)
    if timer.seconds is None:
        raise RuntimeError(
            f'the Runner trained {runner.iter} iterations, fewer than '
            f'warmup + iters = {warmup + iters} (a dataset wrapper that '
            'ignores train_dataloader.dataset.indices?)')
    return dict(seconds=timer.seconds, data_wait=timer.data_wait)


class PlainCIFARLikeDataset(Dataset):
    """The config's training images through torchvision transforms.

    Args:
        images (Sequence[ndarray]): ``(H, W, 3)`` uint8 images.
        labels (Sequence[int]): Their labels.
        transform (callable): torchvision transforms of a PIL image.
    """

    def __init__(self, images: Sequence[np.ndarray], labels: Sequence[int],
                 transform):
        self.images, self.labels, self.transform = images, labels, transform

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int):
        from PIL import Image
        return self.transform(Image.fromarray(self.images[index])), \
            self.labels[index]


def _type_name(cfg: dict) -> str:
    """The registered name of a config's type, without a scope prefix."""
    return str(cfg['type']).split('.')[-1]


def _known_keys(cfg: dict, keys: set, where: str) -> dict:
    """``cfg`` without ``type``, refused if it sets anything the torchvision
    version would not honour."""
    unknown = set(cfg) - keys - {'type'}
    if unknown:
        raise ValueError(
            f'the plain-PyTorch loop cannot reproduce {where} '
            f'{_type_name(cfg)} with {", ".join(sorted(unknown))}; it '
            f'handles {", ".join(sorted(keys))}')
    return cfg


def torchvision_transform(pipeline: List[dict], preprocessor: dict,
                          image_size: Sequence[int]):
    """torchvision's version of an mmpretrain train pipeline whose images are
    already decoded, plus the preprocessor's normalisation.

    ``RandomCrop`` and horizontal ``RandomFlip`` map to their torchvision
    namesakes; ``PackInputs`` to ``ToTensor`` and ``Normalize``. A
    ``BatchRandomCropFlip`` in ``preprocessor.train_augment`` is done on the
    CPU here, as a plain loop would. Anything else is refused, so that the
    two loops do the same work.

    Args:
        pipeline (list[dict]): ``train_dataloader.dataset.pipeline``.
        preprocessor (dict): The data preprocessor config (``mean``,
            ``std`` on the 0-255 scale, optional ``train_augment``).
        image_size (Sequence[int]): ``(H, W)`` of the decoded images.
    """
    import torchvision.transforms as T

    steps = []
    for transform in pipeline:
        kind = _type_name(transform)
        if kind == 'RandomCrop':
            args = _known_keys(transform, {'crop_size', 'padding'},
                               'train pipeline step')
            steps.append(
                T.RandomCrop(args['crop_size'], padding=args.get('padding')))
        elif kind == 'RandomFlip':
            args = _known_keys(transform, {'prob', 'direction'},
                               'train pipeline step')
            if args.get('direction', 'horizontal') != 'horizontal':
                raise ValueError('the plain-PyTorch loop flips horizontally '
                                 f'only, not {args["direction"]!r}')
            if args.get('prob') is not None:  # mmcv: no prob, no flip
                steps.append(T.RandomHorizontalFlip(args['prob']))
        elif kind != 'PackInputs':
            raise ValueError(
                f'the plain-PyTorch loop knows no torchvision version of '
                f'train pipeline step {kind!r}; it handles RandomCrop, '
                'horizontal RandomFlip and PackInputs')
    augment = preprocessor.get('train_augment')
    if augment is not None:
        if _type_name(augment) != 'BatchRandomCropFlip':
            raise ValueError('the plain-PyTorch loop knows no torchvision '
                             f'version of train_augment {augment["type"]!r}')
        args = _known_keys(augment, {'padding', 'flip_prob'}, 'train_augment')
        steps.append(
            T.RandomCrop(tuple(image_size), padding=args.get('padding', 4)))
        steps.append(T.RandomHorizontalFlip(args.get('flip_prob', 0.5)))
    scale = 255.
    steps += [
        T.ToTensor(),
        T.Normalize([m / scale for m in preprocessor['mean']],
                    [s / scale for s in preprocessor['std']])
    ]
    return T.Compose(steps)


def plain_loader(cfg: Config, preprocessor: dict, num_samples: int,
                 device: str) -> DataLoader:
    """A torchvision/DataLoader pipeline over the config's training images, as
    a user would write it, with the config's batch size, workers and
    pinning."""
    from mmunix.registry import DATASETS

    loader_cfg = cfg.train_dataloader
    dataset_cfg = copy.deepcopy(loader_cfg.dataset)
    pipeline = dataset_cfg.pop('pipeline', [])
    dataset_cfg.update(pipeline=[], indices=num_samples)
    source = DATASETS.build(dataset_cfg)
    infos = [source.get_data_info(i) for i in range(len(source))]
    if 'img' not in infos[0]:
        raise ValueError('the plain-PyTorch loop needs a dataset that holds '
                         'decoded images (CIFAR100, Digits)')
    images = [info['img'] for info in infos]
    dataset = PlainCIFARLikeDataset(
        images, [info['gt_label'] for info in infos],
        torchvision_transform(pipeline, preprocessor, images[0].shape[:2]))
    return DataLoader(
        dataset,
        batch_size=loader_cfg.batch_size,
        shuffle=True,
        num_workers=loader_cfg.num_workers,
        pin_memory=bool(loader_cfg.get('pin_memory')) and device == 'cuda',
        drop_last=True)


def time_plain_loop(loader: DataLoader, step: PlainKDStep, warmup: int,
                    iters: int, device: str) -> dict:
    """Train ``step`` on ``warmup + iters`` batches; time the last
    ``iters``."""
    batches = iter(loader)
    data_wait = 0.
    for index in range(warmup + iters):
        if index == warmup:
            _synchronize(device)
            start = time.perf_counter()
            data_wait = 0.
        fetched = time.perf_counter()
        images, _ = next(batches)
        data_wait += time.perf_counter() - fetched
        step.train(images.to(device, non_blocking=True))
    _synchronize(device)
    return dict(seconds=time.perf_counter() - start, data_wait=data_wait)


def time_loader(loader, batches: int) -> float:
    """Samples per second that ``loader`` delivers alone, over up to
    ``batches`` batches after a first, untimed one."""
    iterator = iter(loader)
    next(iterator)
    start = time.perf_counter()
    samples = 0
    for batch in itertools.islice(iterator, batches):
        inputs = batch['inputs'] if isinstance(batch, dict) else batch[0]
        samples += len(inputs)
    return samples / (time.perf_counter() - start)


def run_epoch_benchmark(config: str,
                        iters: int = 100,
                        warmup: int = 20,
                        rounds: int = 2,
                        batch_size: Optional[int] = None,
                        num_workers: Optional[int] = None,
                        generate: Optional[int] = None,
                        amp: Optional[str] = None,
                        cfg_options: Optional[dict] = None,
                        seed: int = 0) -> dict:
    """Time KD and UNIX epochs of a UNIX config, mmunix and plain PyTorch.

    Args:
        config (str): A UNIX config, e.g.
            ``configs/unix_r56_r20_cifar100.py``.
        iters (int): Timed iterations per run. Defaults to 100.
        warmup (int): Untimed iterations before them (worker start-up,
            cuDNN autotuning). Defaults to 20.
        rounds (int): Runs of each of the four. Defaults to 2.
        batch_size (int, optional): ``N``; defaults to the config's.
        num_workers (int, optional): Loader workers of every run; defaults
            to the config's.
        generate (int, optional): Write this many random CIFAR-100 training
            images to a temporary folder and train on them instead of the
            config's data.
        amp (str, optional): ``'fp16'`` or ``'bf16'`` mixed precision
            (CUDA only).
        cfg_options (dict, optional): Merged into the config first.
        seed (int): Seed of the runs. Defaults to 0.

    Returns:
        dict: Settings, per-run ``runs`` and their medians ``ms_per_iter``,
        ``samples_per_s``, ``data_wait_ms``, the loaders'
        ``loader_samples_per_s_per_worker`` and ``ratios`` (see
        ``docs/benchmarks.md``).
    """
    from mmunix.datasets.synthetic_cifar import write_synthetic_cifar100
    from mmunix.models.data_preprocessors import kd_preprocessor_config
    from mmunix.utils import register_all_modules

    if iters < 1 or warmup < 1 or rounds < 1:
        raise ValueError('need iters >= 1, warmup >= 1 and rounds >= 1')
    device = get_device()
    if device not in ('cpu', 'cuda'):
        raise ValueError(f'the tool synchronises CUDA devices only, and '
                         f'this machine trains on {device!r}')
    if amp is not None and amp not in AMP_SETTINGS:
        raise ValueError(
            f'--amp {amp!r}: choose one of {sorted(AMP_SETTINGS)}')
    if amp is not None and device != 'cuda':
        raise ValueError('--amp is mixed precision on CUDA only, and this '
                         'machine has no GPU')
    register_all_modules()
    cfg = Config.fromfile(config)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    loader_cfg = cfg.train_dataloader
    if batch_size is not None:
        loader_cfg.batch_size = batch_size
    if num_workers is not None:
        loader_cfg.num_workers = num_workers
    batch_size, num_workers = loader_cfg.batch_size, loader_cfg.num_workers
    if amp is not None:
        cfg.optim_wrapper.update(type='AmpOptimWrapper', **AMP_SETTINGS[amp])
    cfg.randomness = dict(seed=seed, deterministic=False)
    unix_preprocessor = model_preprocessor_config(cfg)
    preprocessors = dict(
        kd=kd_preprocessor_config(unix_preprocessor), unix=unix_preprocessor)
    num_samples = (warmup + iters) * batch_size

    if cfg.optim_wrapper.optimizer.type != 'SGD':
        raise ValueError('the plain-PyTorch loop implements SGD only, but '
                         f'{config} has optim_wrapper.optimizer.type='
                         f'{cfg.optim_wrapper.optimizer.type!r}')
    with tempfile.TemporaryDirectory(prefix='mmunix_epoch_bench_') as tmp:
        if generate is not None:
            if _type_name(loader_cfg.dataset) != 'CIFAR100':
                raise ValueError(
                    '--generate writes CIFAR-100 files, but the config '
                    f'trains on {loader_cfg.dataset.type!r}')
            if generate < num_samples:
                raise ValueError(
                    f'--generate {generate} images are fewer than the '
                    f'(warmup + iters) x batch = {num_samples} that a run '
                    'trains on')
            write_synthetic_cifar100(
                osp.join(tmp, 'data'), num_train=generate, num_test=1)
            loader_cfg.dataset.update(
                data_root=osp.join(tmp, 'data'), check_md5=False)

        torch.manual_seed(seed)
        kd_model, unix_model = build_distillers(cfg, device)
        loader = plain_loader(cfg, unix_preprocessor, num_samples, device)
        if len(loader) < warmup + iters:
            raise ValueError(
                f'the training set holds {len(loader)} batches of '
                f'{batch_size}, fewer than warmup + iters = '
                f'{warmup + iters}; lower them or use --generate')
        image_shape = tuple(loader.dataset[0][0].shape)
        flops_teacher, flops_student = unix_model.flops_per_sample(image_shape)
        if unix_model.data_preprocessor.needs_compute_cost:
            # As the distiller solves it at its first batch.
            unix_model.data_preprocessor.apply_compute_budget(
                ComputeCost(flops_teacher, flops_student))
        k, b = unix_model.data_preprocessor.resolve_counts(batch_size)
        extra_work = _work_the_plain_loop_skips(unix_model, cfg)
        plain_args = dict(
            mean=unix_model.data_preprocessor.mean.flatten().tolist(),
            std=unix_model.data_preprocessor.std.flatten().tolist(),
            temperature=unix_model.kd_loss.temperature,
            optimizer={
                key: value
                for key, value in cfg.optim_wrapper.optimizer.items()
                if key != 'type'
            },
            amp_dtype=None if amp is None else getattr(
                torch, AMP_SETTINGS[amp]['dtype']))
        plain_steps = dict(
            plain_kd=PlainKDStep(kd_model.student, kd_model.teacher,
                                 **plain_args),
            plain_unix=PlainUNIXStep(
                unix_model.student,
                unix_model.teacher,
                num_selected=k,
                num_clean=b,
                sharpness=unix_model.data_preprocessor.sharpness,
                mix_alpha=unix_model.data_preprocessor.mix_alpha,
                **plain_args))

        runs = {name: [] for name in RUNS}
        for round_ in range(rounds):
            shift = round_ % len(RUNS)
            for name in RUNS[shift:] + RUNS[:shift]:
                if name in plain_steps:
                    timing = time_plain_loop(loader, plain_steps[name], warmup,
                                             iters, device)
                else:
                    timing = time_runner(
                        runner_config(cfg, preprocessors[name], tmp,
                                      f'{name}_round{round_}', num_samples),
                        warmup, iters)
                runs[name].append(timing)

        mmunix_loader = Runner.build_dataloader(
            dict(
                copy.deepcopy(cfg.train_dataloader), persistent_workers=False),
            seed=seed)
        loader_rates = dict(mmunix=[], plain=[])
        for _ in range(rounds):
            loader_rates['mmunix'].append(time_loader(mmunix_loader, iters))
            loader_rates['plain'].append(time_loader(loader, iters))

    def median(name, key):
        return statistics.median(run[key] for run in runs[name])

    ms_per_iter = {
        name: 1000 * median(name, 'seconds') / iters
        for name in RUNS
    }
    per_worker = {
        name: statistics.median(rates) / max(num_workers, 1)
        for name, rates in loader_rates.items()
    }
    return dict(
        config=config,
        device=device,
        gpu=torch.cuda.get_device_name() if device == 'cuda' else None,
        threads=torch.get_num_threads(),
        amp=amp,
        batch_size=batch_size,
        num_selected=k,
        num_clean=b,
        num_workers=num_workers,
        iters=iters,
        warmup=warmup,
        rounds=rounds,
        image_shape=list(image_shape),
        flops=dict(teacher=flops_teacher, student=flops_student),
        runs=runs,
        ms_per_iter=ms_per_iter,
        samples_per_s={
            name: 1000 * batch_size / ms
            for name, ms in ms_per_iter.items()
        },
        data_wait_ms={
            name: 1000 * median(name, 'data_wait') / iters
            for name in RUNS
        },
        loader_samples_per_s=loader_rates,
        loader_samples_per_s_per_worker=per_worker,
        extra_work=extra_work,
        ratios=dict(
            unix_kd_time=ms_per_iter['unix'] / ms_per_iter['kd'],
            plain_unix_kd_time=ms_per_iter['plain_unix'] /
            ms_per_iter['plain_kd'],
            unix_kd_flops=unix_flops_ratio(flops_teacher, flops_student,
                                           batch_size, k),
            mmunix_plain_unix_time=ms_per_iter['unix'] /
            ms_per_iter['plain_unix'],
            mmunix_plain_kd_time=ms_per_iter['kd'] / ms_per_iter['plain_kd'],
            mmunix_plain_loader=per_worker['mmunix'] / per_worker['plain']),
        date=time.strftime('%Y-%m-%d'),
        torch=torch.__version__)


def _work_the_plain_loop_skips(model, cfg: Config) -> List[str]:
    """What mmunix computes beyond the plain loop's KD loss and SGD step:

    a ``kd_loss`` other than ``KDLoss`` (the plain loop computes Hinton's),
    losses of nonzero weight other than ``loss_kd``, and gradient clipping.
    """
    from mmunix.models.losses import KDLoss
    extra = []
    if model.kd_loss is not None and not isinstance(model.kd_loss, KDLoss):
        extra.append(f'loss_kd ({type(model.kd_loss).__name__})')
    losses = dict(model.feature_losses, loss_ce=model.ce_loss)
    extra += [
        name for name, loss in sorted(losses.items())
        if loss is not None and getattr(loss, 'loss_weight', 1.0) != 0
    ]
    if cfg.optim_wrapper.get('clip_grad'):
        extra.append('optim_wrapper.clip_grad')
    return extra


def format_epoch_table(result: dict) -> str:
    """A plain-text table of :func:`run_epoch_benchmark`'s result, with the
    targets of ``docs/benchmarks.md`` judged on the medians."""
    r, ratios = result, result['ratios']
    overhead_limit = 1.0 if r['device'] == 'cuda' else 1.05
    time_limit = ratios['unix_kd_flops'] + 0.05

    def verdict(ok):
        return 'met' if ok else 'MISSED'

    device = r['gpu'] or f"{r['device']}, {r['threads']} threads"
    lines = [
        r['config'],
        f"teacher F_t = {r['flops']['teacher'] / 1e6:.1f} M, student F_s = "
        f"{r['flops']['student'] / 1e6:.1f} M flops per "
        f"{'x'.join(map(str, r['image_shape']))} sample (fvcore)",
        f"N = {r['batch_size']}, k = {r['num_selected']}, b = "
        f"{r['num_clean']}, {r['num_workers']} loader workers; {device}, "
        f"{r['amp'] or 'float32'}, torch {r['torch']}; {r['iters']} timed "
        f"iterations after {r['warmup']}, {r['rounds']} interleaved rounds; "
        f"{r['date']}",
        '',
        f"{'run':<24}{'ms/iter':>10}{'samples/s':>11}{'data wait ms':>14}",
    ]
    for name in RUNS:
        lines.append(f'{LABELS[name]:<24}{r["ms_per_iter"][name]:>10.2f}'
                     f'{r["samples_per_s"][name]:>11.0f}'
                     f'{r["data_wait_ms"][name]:>14.2f}')
    loader = r['loader_samples_per_s_per_worker']
    lines += [
        '',
        f"loader alone, samples/s per worker: mmunix {loader['mmunix']:.0f}, "
        f"torchvision {loader['plain']:.0f}",
        '',
        f"UNIX / KD time, mmunix     {ratios['unix_kd_time']:.3f}   target "
        f'<= FLOPs + 0.05 = {time_limit:.3f}: '
        f"{verdict(ratios['unix_kd_time'] <= time_limit)}",
        f"UNIX / KD time, plain      {ratios['plain_unix_kd_time']:.3f}",
        f"UNIX / KD FLOPs            {ratios['unix_kd_flops']:.3f}",
        f"mmunix / plain, UNIX       {ratios['mmunix_plain_unix_time']:.3f}"
        f'   target <= {overhead_limit:.2f}: '
        f"{verdict(ratios['mmunix_plain_unix_time'] <= overhead_limit)}",
        f"mmunix / plain, KD         {ratios['mmunix_plain_kd_time']:.3f}",
        f"mmunix / plain, loader     {ratios['mmunix_plain_loader']:.3f}"
        f"   target >= 1: {verdict(ratios['mmunix_plain_loader'] >= 1)}",
    ]
    if r['extra_work']:
        lines += [
            '', f"Note: mmunix also computes {', '.join(r['extra_work'])}, "
            'which the plain loop does not.'
        ]
    return '\n'.join(lines)
