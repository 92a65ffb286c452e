"""Wall-clock cost of UNIX against conventional KD, and mmunix's overhead.

Four training iterations are timed in one process, interleaved round by
round (KD, UNIX, plain KD, plain UNIX, then the same rotated by one), so that
the noise of a shared machine falls on all of them alike:

- **KD (mmunix)**: ``ClassificationDistiller.train_step`` with
  ``DeviceClsDataPreprocessor``, i.e. the data preprocessor, the distiller's
  ``loss()``, backward and the optimizer step of an MMEngine
  ``OptimWrapper``, exactly what the Runner's train loop calls.
- **UNIX (mmunix)**: the same with ``UNIXDataPreprocessor``.
- **KD (plain PyTorch)** and **UNIX (plain PyTorch)**: :class:`PlainKDStep`
  and :class:`PlainUNIXStep`, an independent implementation of the
  training step of docs/algorithm.md with bare modules and
  ``torch.optim.SGD`` and nothing of MMEngine. The gap between them and the
  mmunix rows is the framework's overhead.

All four start from the same weights and see the same synthetic batch:
random ``uint8`` images and labels, collated as the config's train dataloader
collates, which the preprocessors (and the plain steps, by hand) normalise
with the config's mean and std.

The FLOPs ratio is that of the compute accounting in docs/algorithm.md,
with fvcore's ``F_t`` and ``F_s`` from
:func:`mmunix.utils.complexity.measure_complexity` (through the distiller's
``flops_per_sample``).
"""
import copy
import json
import statistics
import time
from contextlib import nullcontext
from fractions import Fraction
from functools import partial
from typing import Callable, Dict, Optional, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from mmengine.config import Config
from mmengine.optim import build_optim_wrapper
from torch import nn

from mmunix.utils.atomic_save import write_atomically
from mmunix.utils.compute_cost import ComputeCost
from mmunix.utils.host_sync import forbid_host_syncs

try:
    import resource
except ImportError:  # not on Windows
    resource = None

#: Names of the timed iterations, in the order each round runs them.
METHODS = ('kd', 'unix', 'plain_kd', 'plain_unix')
LABELS = dict(
    kd='KD (mmunix)',
    unix='UNIX (mmunix)',
    plain_kd='KD (plain PyTorch)',
    plain_unix='UNIX (plain PyTorch)')

#: A median more than this many times the fastest iteration means that
#: other processes were busy during most of the run.
NOISY_SPREAD = 1.25


def unix_flops_ratio(flops_teacher: int, flops_student: int, batch_size: int,
                     num_selected: int) -> float:
    """UNIX's FLOPs per iteration over KD's (docs/algorithm.md).

    ``(N·F_s + k·(F_t + 2F_s)) / (N·(F_t + 2F_s))``, a student backward
    costing one forward: :meth:`ComputeCost.unix_ratio` evaluated in exact
    rational arithmetic and rounded once to a float.

    Args:
        flops_teacher (int): ``F_t``, teacher forward FLOPs of one sample.
        flops_student (int): ``F_s``, student forward FLOPs of one sample.
        batch_size (int): ``N``.
        num_selected (int): ``k``.
    """
    cost = ComputeCost(
        Fraction(flops_teacher),
        Fraction(flops_student),
        backward_factor=Fraction(1))
    return float(cost.unix_ratio(Fraction(num_selected, batch_size)))


def build_distillers(cfg: Config, device: str) -> tuple:
    """The KD and the UNIX ``ClassificationDistiller`` of a UNIX config.

    The teacher checkpoint is skipped (random teacher: the cost is the same).
    The KD distiller swaps the data preprocessor for the conventional-KD one
    with the same normalisation (:func:`kd_preprocessor_config`) and takes
    the UNIX distiller's weights, so both start from identical teacher and
    student.

    Returns:
        tuple: ``(kd_model, unix_model)``, in train mode on ``device``.
    """
    from mmunix.models.data_preprocessors import kd_preprocessor_config
    from mmunix.registry import MODELS

    def build(preprocessor: dict):
        model_cfg = copy.deepcopy(cfg.model)
        model_cfg.teacher_ckpt = None
        model_cfg.data_preprocessor = preprocessor
        return MODELS.build(model_cfg)

    unix_preprocessor = model_preprocessor_config(cfg)
    unix = build(unix_preprocessor)
    if not unix.uses_unix:
        raise ValueError(
            'benchmark needs a UNIX config: its data_preprocessor.type must '
            f'be UNIXDataPreprocessor, got {unix_preprocessor!r}')
    kd = build(kd_preprocessor_config(unix_preprocessor))
    kd.student.load_state_dict(unix.student.state_dict())
    kd.teacher.load_state_dict(unix.teacher.state_dict())
    return kd.to(device).train(), unix.to(device).train()


def model_preprocessor_config(cfg: Config) -> dict:
    """A copy of the data preprocessor config that the model of ``cfg`` is
    built with: ``model.data_preprocessor``, else the top-level one."""
    return copy.deepcopy(
        cfg.model.get('data_preprocessor', cfg.get('data_preprocessor')))


def synthetic_batch(cfg: Config, batch_size: int, image_shape: Sequence[int],
                    num_classes: int, seed: int) -> tuple:
    """A random batch as the config's train dataloader would deliver it.

    Returns:
        tuple: ``(data, images, labels)``: ``data`` is the dict that
        ``model.train_step`` receives (``inputs`` and ``DataSample``\\ s with
        ``gt_label``, collated by ``train_dataloader.collate_fn``, MMEngine's
        ``pseudo_collate`` by default), ``images`` the same pixels as one
        ``(N, C, H, W)`` ``uint8`` tensor and ``labels`` the ``(N,)`` labels.
    """
    from mmengine.registry import FUNCTIONS
    from mmpretrain.structures import DataSample

    generator = torch.Generator().manual_seed(seed)
    images = torch.randint(
        0,
        256, (batch_size, *image_shape),
        generator=generator,
        dtype=torch.uint8)
    labels = torch.randint(0, num_classes, (batch_size, ), generator=generator)
    samples = [
        dict(
            inputs=image.clone(),
            data_samples=DataSample().set_gt_label(int(label)))
        for image, label in zip(images, labels)
    ]
    # Collate as Runner.build_dataloader does.
    collate_cfg = copy.deepcopy(
        cfg.get('train_dataloader', {}).get('collate_fn',
                                            dict(type='pseudo_collate')))
    collate_type = collate_cfg.pop('type')
    if isinstance(collate_type, str):
        import mmengine.dataset  # noqa: F401 (registers the collate functions)
        collate_type = FUNCTIONS.get(collate_type)
    data = partial(collate_type, **collate_cfg)(samples)
    return data, images, labels


class PlainKDStep:
    """One conventional KD training iteration in plain PyTorch.

    The reference for mmunix's KD path and the base of
    :class:`PlainUNIXStep`: bare modules called as
    ``backbone -> neck -> head``, normalisation by hand, a no-grad teacher
    forward, the student's forward, Hinton's KD loss with ``F.kl_div`` and a
    ``torch.optim.SGD`` step. No MMEngine object is involved.

    Args:
        student (nn.Module): Classifier with ``backbone``, ``neck``, ``head``;
            trained in place.
        teacher (nn.Module): Classifier of the same form; frozen, eval mode.
        mean, std (Sequence[float]): Per-channel normalisation, on the scale
            of the raw pixels.
        temperature (float): KD temperature ``T``.
        optimizer (dict): ``torch.optim.SGD`` arguments (``lr``,
            ``momentum``, ``weight_decay``...).
        amp_dtype (torch.dtype, optional): Autocast the forwards to this
            dtype (CUDA only); ``torch.float16`` also scales the loss.
    """

    def __init__(self,
                 student: nn.Module,
                 teacher: nn.Module,
                 mean: Sequence[float],
                 std: Sequence[float],
                 temperature: float,
                 optimizer: dict,
                 amp_dtype: Optional[torch.dtype] = None):
        self.student = student.train()
        self.teacher = teacher.eval().requires_grad_(False)
        device = next(student.parameters()).device
        self.mean = torch.tensor(mean, device=device).view(1, -1, 1, 1)
        self.std = torch.tensor(std, device=device).view(1, -1, 1, 1)
        self.temperature = temperature
        self.optimizer = torch.optim.SGD(student.parameters(), **optimizer)
        self.amp_dtype = amp_dtype
        self.scaler = torch.amp.GradScaler(
            'cuda') if amp_dtype == torch.float16 else None

    @staticmethod
    def logits(classifier: nn.Module, x: torch.Tensor) -> torch.Tensor:
        """``(N, num_classes)`` logits of ``backbone -> neck -> head``."""
        return classifier.head(classifier.neck(classifier.backbone(x)))

    def normalise(self, images: torch.Tensor) -> torch.Tensor:
        """``(N, C, H, W)`` raw images -> normalised ``float32``."""
        return (images.float() - self.mean) / self.std

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        """Train on one batch of ``(N, C, H, W)`` raw images.

        Returns:
            Tensor: the KD loss, a scalar (not synchronised).
        """
        return self.train(self.normalise(images))

    def train(self, x: torch.Tensor) -> torch.Tensor:
        """Train on one normalised ``(N, C, H, W)`` batch; return the loss (not
        synchronised)."""
        return self.distill(x)

    def _autocast(self, device_type: str):
        return torch.autocast(
            device_type,
            dtype=self.amp_dtype,
            enabled=self.amp_dtype is not None)

    def distill(self, x: torch.Tensor) -> torch.Tensor:
        """KD loss on the normalised ``x``, backward and an SGD step."""
        with self._autocast(x.device.type):
            with torch.no_grad():
                teacher_logits = self.logits(self.teacher, x)
            student_logits = self.logits(self.student, x)
        t = self.temperature
        loss = t * t * F.kl_div(
            F.log_softmax(student_logits.float() / t, dim=1),
            F.log_softmax(teacher_logits.float() / t, dim=1),
            reduction='batchmean',
            log_target=True)
        self.optimizer.zero_grad(set_to_none=True)
        if self.scaler is None:
            loss.backward()
            self.optimizer.step()
        else:
            self.scaler.scale(loss).backward()
            self.scaler.step(self.optimizer)
            self.scaler.update()
        return loss.detach()


class PlainUNIXStep(PlainKDStep):
    """One UNIX training iteration in plain PyTorch (docs/algorithm.md).

    An independent reference for mmunix's UNIX path, written from the
    description of the method alone, not from mmunix's code: the student's
    no-grad train-mode scoring forward, entropy, argsort, the sigmoid ramp,
    one ``λ ~ Beta(α, α)``, one permutation and the mix of the first ``k``
    rank positions, then :meth:`distill` on the ``k`` mixed samples. CE
    (weight 0 in the reference recipe) is skipped, as mmunix skips a loss of
    weight 0.

    Args:
        num_selected (int): ``k``.
        num_clean (int): ``b``.
        sharpness (float): ``w``.
        mix_alpha (float): ``α``.
        **kwargs: :class:`PlainKDStep`'s arguments.
    """

    def __init__(self, *args, num_selected: int, num_clean: int,
                 sharpness: float, mix_alpha: float, **kwargs):
        super().__init__(*args, **kwargs)
        self.k, self.b = num_selected, num_clean
        self.sharpness, self.alpha = sharpness, mix_alpha

    def train(self, x: torch.Tensor) -> torch.Tensor:
        return self.distill(self.mix_and_select(x))

    @torch.no_grad()
    def mix_and_select(self, x: torch.Tensor) -> torch.Tensor:
        """Steps 1-6: ``(N, C, H, W)`` normalised -> ``(k, C, H, W)``."""
        n = x.size(0)
        # 1. Score in train mode.
        with self._autocast(x.device.type):
            logits = self.logits(self.student, x).float()
        # 2-3. Entropy; most uncertain first.
        log_p = F.log_softmax(logits, dim=1)
        entropy = -(log_p.exp() * log_p).sum(dim=1)
        ranks = torch.argsort(entropy, descending=True)
        # 4. Ramp over rank positions.
        j = torch.arange(n, device=x.device, dtype=torch.float32)
        ramp = torch.sigmoid(self.sharpness * (j / n - (2 * self.b - 1) /
                                               (2 * n)))
        # 5-6. One λ and one permutation; mix the first k positions only.
        lam = float(np.random.beta(self.alpha, self.alpha))
        mask = (lam * ramp[:self.k]).view(-1, 1, 1, 1)
        perm = torch.randperm(n, device=x.device)[:self.k]
        return (1 - mask) * x[ranks[:self.k]] + mask * x[perm]


def _minor_faults() -> Optional[int]:
    """Minor page faults of this process so far; ``None`` off Unix."""
    if resource is None:
        return None
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


def time_interleaved(steps: Dict[str, Callable[[], object]],
                     iters: int,
                     warmup: int,
                     device: torch.device,
                     sync_debug: bool = False) -> tuple:
    """Run ``warmup + iters`` rounds of every step, one after the other.

    Each round starts one step later than the previous one (KD, UNIX, plain;
    UNIX, plain, KD; plain, KD, UNIX; ...), so that no step always runs
    right after the same neighbour: on a CPU the previous iteration's memory
    and cache state changes the next one's time by a few percent.

    With ``sync_debug``, every timed step runs under
    :func:`mmunix.utils.host_sync.forbid_host_syncs` and fails at its first
    host sync.

    Returns:
        tuple[dict, dict]: per step name, the seconds of each timed
        (post-warm-up) call in round order, and the minor page faults of
        each (``None`` where the platform does not count them).
    """
    cuda = device.type == 'cuda'
    names = list(steps)
    times = {name: [] for name in names}
    faults = {name: [] for name in names}
    for round_ in range(warmup + iters):
        shift = round_ % len(names)
        for name in names[shift:] + names[:shift]:
            if cuda:
                torch.cuda.synchronize(device)
            check = sync_debug and round_ >= warmup
            faults_before = _minor_faults()
            start = time.perf_counter()
            with forbid_host_syncs(device.type) if check else nullcontext():
                steps[name]()
            if cuda:
                torch.cuda.synchronize(device)
            elapsed = time.perf_counter() - start
            if round_ >= warmup:
                times[name].append(elapsed)
                faults[name].append(None if faults_before is
                                    None else _minor_faults() - faults_before)
    return times, faults


def _describe(classifier: nn.Module) -> str:
    """``'CIFARResNet(resnet32x4)'``: the backbone class and its arch."""
    backbone = classifier.backbone
    arch = getattr(backbone, 'arch', None)
    name = type(backbone).__name__
    return f'{name}({arch})' if isinstance(arch, str) else name


def _median_or_none(counts: Dict[str, list]) -> Dict[str, Optional[float]]:
    return {
        name: None if None in values else statistics.median(values)
        for name, values in counts.items()
    }


def run_benchmark(config: str,
                  iters: int = 20,
                  batch_size: int = 64,
                  device: str = 'cpu',
                  amp: bool = False,
                  warmup: int = 3,
                  seed: int = 0,
                  image_shape: Sequence[int] = (3, 32, 32),
                  sync_debug: bool = False) -> dict:
    """Time KD and UNIX iterations of a UNIX config, mmunix and plain.

    Args:
        config (str): A UNIX config, e.g.
            ``configs/unix_r32x4_r8x4_cifar100.py``.
        iters (int): Timed rounds. Defaults to 20.
        batch_size (int): ``N``. Defaults to 64.
        device (str): ``'cpu'`` or ``'cuda'`` (``'cuda:1'``...).
        amp (bool): Mixed precision (``AmpOptimWrapper`` and autocast);
            CUDA only.
        warmup (int): Untimed rounds first. Defaults to 3.
        seed (int): Seed of the synthetic batch, the weights and the mixing.
        image_shape (Sequence[int]): ``(C, H, W)``. Defaults to
            ``(3, 32, 32)``.
        sync_debug (bool): Fail at the first host sync in a timed
            iteration (see :func:`time_interleaved`).

    Returns:
        dict: Settings, ``flops``, per-row ``median_ms``, ``min_ms``,
        ``times_ms`` and ``minor_faults``, and ``ratios`` and
        ``ratios_of_min`` (see ``docs/benchmarks.md``).
    """
    from mmunix.utils import register_all_modules

    if iters < 1 or warmup < 0 or batch_size < 1:
        raise ValueError('need iters >= 1, warmup >= 0 and batch_size >= 1')
    device = torch.device(device)
    if device.type == 'cuda' and not torch.cuda.is_available():
        raise RuntimeError(f'--device {device} asked for, but CUDA is not '
                           'available; use --device cpu')
    if amp and sync_debug:
        raise ValueError('--sync-debug cannot check --amp: float16 loss '
                         "scaling reads PyTorch's GradScaler inf check on the "
                         'host in every step, in mmunix and in the plain '
                         'reference alike')
    if amp and device.type != 'cuda':
        raise ValueError('--amp is mixed precision on CUDA only; drop it or '
                         'use --device cuda')
    register_all_modules()
    torch.manual_seed(seed)
    np.random.seed(seed)

    cfg = Config.fromfile(config)
    kd, unix = build_distillers(cfg, str(device))
    preprocessor = unix.data_preprocessor
    flops_teacher, flops_student = unix.flops_per_sample(image_shape)

    num_classes = unix.student.head.num_classes
    data, images, _ = synthetic_batch(cfg, batch_size, image_shape,
                                      num_classes, seed)
    images = images.to(device)

    # k and b as the config resolves them at this batch size (solving a
    # compute_budget for k first, as the distiller does at its first batch);
    # the check after timing confirms that mmunix kept k samples too.
    if preprocessor.needs_compute_cost:
        preprocessor.apply_compute_budget(
            ComputeCost(flops_teacher, flops_student))
    k, b = preprocessor.resolve_counts(batch_size)
    optimizer_cfg = dict(copy.deepcopy(cfg.optim_wrapper.optimizer))
    if optimizer_cfg.pop('type') != 'SGD':
        raise ValueError('the plain-PyTorch reference implements SGD only, '
                         f'but {config} has optim_wrapper.optimizer.type='
                         f'{cfg.optim_wrapper.optimizer.type!r}')
    plain_args = dict(
        mean=preprocessor.mean.flatten().tolist(),
        std=preprocessor.std.flatten().tolist(),
        temperature=unix.kd_loss.temperature,
        optimizer=optimizer_cfg,
        amp_dtype=torch.float16 if amp else None)
    plain_kd = PlainKDStep(
        copy.deepcopy(unix.student), copy.deepcopy(unix.teacher), **plain_args)
    plain_unix = PlainUNIXStep(
        copy.deepcopy(unix.student),
        copy.deepcopy(unix.teacher),
        num_selected=k,
        num_clean=b,
        sharpness=preprocessor.sharpness,
        mix_alpha=preprocessor.mix_alpha,
        **plain_args)

    wrapper_cfg = copy.deepcopy(cfg.optim_wrapper)
    if amp:
        wrapper_cfg.type = 'AmpOptimWrapper'
    kd_optim = build_optim_wrapper(kd, copy.deepcopy(wrapper_cfg))
    unix_optim = build_optim_wrapper(unix, copy.deepcopy(wrapper_cfg))

    steps = dict(
        kd=lambda: kd.train_step(data, kd_optim),
        unix=lambda: unix.train_step(data, unix_optim),
        plain_kd=lambda: plain_kd(images),
        plain_unix=lambda: plain_unix(images))
    times, faults = time_interleaved(steps, iters, warmup, device, sync_debug)
    if unix.sample_counts['teacher'] != k:
        raise RuntimeError(
            f'the plain-PyTorch reference kept k={k} samples but mmunix kept '
            f'{unix.sample_counts["teacher"]}; they must do the same work')

    times_ms = {name: [1000 * t for t in times[name]] for name in METHODS}

    def time_ratios(stat):
        value = {name: stat(times_ms[name]) for name in METHODS}
        return value, dict(
            unix_kd_time=value['unix'] / value['kd'],
            plain_unix_kd_time=value['plain_unix'] / value['plain_kd'],
            mmunix_plain_unix_time=value['unix'] / value['plain_unix'],
            mmunix_plain_kd_time=value['kd'] / value['plain_kd'])

    median, ratios = time_ratios(statistics.median)
    fastest, ratios_of_min = time_ratios(min)
    ratios['unix_kd_flops'] = unix_flops_ratio(flops_teacher, flops_student,
                                               batch_size, k)
    return dict(
        config=config,
        device=str(device),
        threads=torch.get_num_threads(),
        amp=amp,
        batch_size=batch_size,
        num_selected=k,
        num_clean=b,
        image_shape=list(image_shape),
        iters=iters,
        warmup=warmup,
        teacher=_describe(unix.teacher),
        student=_describe(unix.student),
        flops=dict(teacher=flops_teacher, student=flops_student),
        median_ms=median,
        min_ms=fastest,
        times_ms=times_ms,
        # Fresh memory pages the iteration touched: the allocator handing
        # memory back to the OS and faulting it in again costs CPU time.
        minor_faults=_median_or_none(faults),
        ratios=ratios,
        # The time ratios of the fastest iterations: less affected by other
        # processes on a shared machine, a check on the medians.
        ratios_of_min=ratios_of_min,
        date=time.strftime('%Y-%m-%d'),
        torch=torch.__version__)


def write_json(result: dict, path: str) -> None:
    """Write a benchmark result to ``path``, whole or not at all."""
    write_atomically(path, json.dumps(result, indent=2))


def format_table(result: dict,
                 time_slack: float = 0.03,
                 overhead_limit: float = 1.05) -> str:
    """A small plain-text table of :func:`run_benchmark`'s result.

    ``time_slack`` and ``overhead_limit`` are the performance targets, judged
    on the medians: mmunix's UNIX/KD time at most the FLOPs ratio +
    ``time_slack``, and mmunix's UNIX at most ``overhead_limit`` times the
    plain-PyTorch UNIX.
    """
    r = result
    precision = 'AMP (float16 autocast)' if r['amp'] else 'float32'
    ratios, of_min = r['ratios'], r['ratios_of_min']
    time_limit = ratios['unix_kd_flops'] + time_slack

    def verdict(ok):
        return 'met' if ok else 'MISSED'

    def row(label, key, note=''):
        mins = f'{of_min[key]:>10.3f}' if key in of_min else ' ' * 10
        return f'{label:<26}{ratios[key]:>10.3f}{mins}   {note}'.rstrip()

    lines = [
        r['config'],
        f"teacher {r['teacher']} F_t = {r['flops']['teacher'] / 1e6:.1f} M, "
        f"student {r['student']} F_s = {r['flops']['student'] / 1e6:.1f} M "
        f"(fvcore, one sample at {'x'.join(map(str, r['image_shape']))})",
        f"N = {r['batch_size']}, k = {r['num_selected']}, "
        f"b = {r['num_clean']}; {r['device']}, {r['threads']} "
        f"thread{'s' if r['threads'] != 1 else ''}, "
        f"{precision}, torch {r['torch']}; {r['iters']} rounds after "
        f"{r['warmup']} warm-up, interleaved; {r['date']}",
        '',
        f"{'iteration':<26}{'median ms':>10}{'min ms':>10}{'max ms':>10}"
        f"{'page faults':>13}",
    ]
    for name in METHODS:
        values = r['times_ms'][name]
        faults = r['minor_faults'][name]
        faults = '-' if faults is None else f'{faults:.0f}'
        lines.append(f"{LABELS[name]:<26}{r['median_ms'][name]:>10.1f}"
                     f'{min(values):>10.1f}{max(values):>10.1f}{faults:>13}')
    lines += [
        '',
        f"{'ratio':<26}{'medians':>10}{'mins':>10}",
        row(
            'UNIX / KD time, mmunix', 'unix_kd_time',
            f'target <= {time_limit:.3f}: '
            f"{verdict(ratios['unix_kd_time'] <= time_limit)}"),
        row('UNIX / KD time, plain', 'plain_unix_kd_time'),
        row('UNIX / KD FLOPs', 'unix_kd_flops', 'docs/algorithm.md'),
        row(
            'mmunix / plain, UNIX', 'mmunix_plain_unix_time',
            f'target <= {overhead_limit:.2f}: ' +
            verdict(ratios['mmunix_plain_unix_time'] <= overhead_limit)),
        row('mmunix / plain, KD', 'mmunix_plain_kd_time'),
    ]
    noisy = [
        LABELS[name] for name in METHODS
        if r['median_ms'][name] > NOISY_SPREAD * r['min_ms'][name]
    ]
    if noisy:
        lines += [
            '', f'Warning: the median of {", ".join(noisy)} is over '
            f'{NOISY_SPREAD:g}x its minimum; other processes were probably '
            'competing for the CPU. Rerun on a quieter machine or with more '
            '--iters before trusting the ratios.'
        ]
    return '\n'.join(lines)
