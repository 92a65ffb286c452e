"""The offline demo: KD and UNIX against the student alone, on scikit-learn's
handwritten digits.

A resnet20 teacher learns all 1,347 training digits (8x8 pixels). A resnet8
student then learns from only 64 of them, three ways: cross-entropy alone,
conventional KD and UNIX, each with several seeds. Every run is a Runner
built from a config of ``configs/demo/``, as ``tools/train.py`` builds it.
The demo prints accuracy (mean and standard deviation over the seeds)
against teacher queries and compute, says which differences the seeds'
spread supports, and writes the table, ``results.json`` and a plot to the
work dir. A finished teacher of the same config is reused unless
``--force`` is given. No download; about 70 s on a 2-core CPU.

Usage::

    python tools/run_demo.py [--work-dir work_dirs/demo] [--seeds 5]
                             [--force] [--quick]
"""
import argparse
import contextlib
import hashlib
import io
import json
import logging
import math
import os.path as osp
import statistics
import sys
import time

import torch
from mmengine.config import Config

from mmunix.utils import register_all_modules
from mmunix.utils.atomic_save import write_atomically
from mmunix.utils.runner_args import build_runner, check_work_dir

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
CONFIG_DIR = osp.join(REPO_ROOT, 'configs', 'demo')
TEACHER = 'teacher_resnet20_digits.py'
#: (run name, label in the table, config)
STUDENT_RUNS = [
    ('ce', 'resnet8 alone (CE)', 'student_resnet8_digits.py'),
    ('kd', 'resnet8, KD', 'kd_r20_r8_digits.py'),
    ('unix', 'resnet8, UNIX', 'unix_r20_r8_digits.py'),
]
#: --quick: a few epochs, to check the pipeline in seconds, not the method.
QUICK_TEACHER = {
    'train_cfg.max_epochs': 3,
    'param_scheduler.T_max': 3,
    'train_cfg.val_interval': 3
}
QUICK_STUDENT = {
    'train_cfg.max_epochs': 10,
    'param_scheduler.T_max': 10,
    'train_cfg.val_interval': 10
}
#: A difference of means counts as real beyond this many standard errors.
CLEAR = 2.0


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument(
        '--work-dir',
        default=None,
        help='default: work_dirs/demo '
        '(work_dirs/demo_quick with --quick)')
    parser.add_argument(
        '--seeds',
        type=int,
        default=None,
        help='student runs per method (default 5; 2 with --quick)')
    parser.add_argument(
        '--force', action='store_true', help='retrain the teacher')
    parser.add_argument(
        '--quick',
        action='store_true',
        help='a few epochs: checks the pipeline, not the method')
    args = parser.parse_args()
    if args.work_dir is None:
        args.work_dir = osp.join('work_dirs',
                                 'demo_quick' if args.quick else 'demo')
    if args.seeds is None:
        args.seeds = 2 if args.quick else 5
    if args.seeds < 2:
        parser.error(f'--seeds {args.seeds}: a spread needs at least 2')
    return args


def load_config(config: str, options: dict, work_dir: str) -> Config:
    cfg = Config.fromfile(osp.join(CONFIG_DIR, config))
    cfg.merge_from_dict(options)
    cfg.work_dir = work_dir
    cfg.launcher = 'none'
    # Runners of one process need their own logger and message hub.
    cfg.experiment_name = 'demo_' + '_'.join(work_dir.split(osp.sep)[-2:])
    return cfg


def train(cfg: Config) -> dict:
    """Train ``cfg`` with the Runner that ``tools/train.py`` would build;
    return the run's ``summary.json`` (RunSummaryHook)."""
    # The demo owns its work dirs: running it again redoes its runs.
    check_work_dir(cfg, overwrite=True)
    # The full log goes to the work dir; the console shows the demo's lines
    # and the runs' warnings only.
    with contextlib.redirect_stdout(io.StringIO()):
        runner = build_runner(cfg)
    for handler in runner.logger.handlers:
        if type(handler) is logging.StreamHandler:
            handler.setStream(sys.stdout)
            handler.setLevel(logging.WARNING)
            handler.addFilter(_not_a_deprecation)
    runner.train()
    with open(osp.join(cfg.work_dir, 'summary.json')) as f:
        return json.load(f)


def _not_a_deprecation(record: logging.LogRecord) -> bool:
    # MMEngine's CheckpointHook announces the deprecation of its own
    # FileClient in every run; the work dir's log keeps it.
    return 'deprecated' not in record.getMessage()


def fingerprint(cfg: Config) -> str:
    """What the teacher's training depends on, as a short digest."""
    text = Config(cfg.to_dict()).pretty_text
    return hashlib.sha256(text.replace(cfg.work_dir,
                                       '<work_dir>').encode()).hexdigest()[:16]


def teacher_checkpoint(work_dir: str, options: dict, force: bool) -> tuple:
    """Train the teacher, or reuse a finished one of the same config.

    Returns:
        tuple: (checkpoint path, top-1 %, whether it was reused).
    """
    folder = osp.join(work_dir, 'teacher')
    cfg = load_config(TEACHER, options, folder)
    record = osp.join(folder, 'demo_teacher.json')
    if osp.isfile(record) and not force:
        with open(record) as f:
            done = json.load(f)
        if (done.get('fingerprint') == fingerprint(cfg)
                and osp.isfile(done['checkpoint'])):
            return done['checkpoint'], done['accuracy'], True
    summary = train(cfg)
    with open(osp.join(folder, 'last_checkpoint')) as f:
        checkpoint = f.read().strip()
    accuracy = summary['student_last_top1']
    write_atomically(
        record,
        json.dumps(
            dict(
                checkpoint=checkpoint,
                accuracy=accuracy,
                fingerprint=fingerprint(cfg)),
            indent=2))
    return checkpoint, accuracy, False


def compute_of(summary: dict, kd: dict) -> tuple:
    """(teacher samples, total GFLOPs, compute vs KD) of one student run; the
    student alone is priced with KD's per-sample costs."""
    if 'compute_ratio_vs_kd' in summary:
        return (summary['teacher_samples'], summary['total_flops'] / 1e9,
                summary['compute_ratio_vs_kd'])
    from mmunix.utils.compute_cost import ComputeCost
    cost = ComputeCost(kd['teacher_flops_per_sample'],
                       kd['student_flops_per_sample'], kd['backward_factor'])
    samples = kd['batch_samples']
    total = cost.total(0, 0, samples)
    return 0, total / 1e9, total / cost.kd(samples)


def spread(values: list) -> tuple:
    """(mean, sample standard deviation)."""
    return statistics.mean(values), statistics.stdev(values)


def compare(name_a: str, a: list, name_b: str, b: list) -> str:
    """One sentence on the mean top-1 of ``a`` against ``b``, claiming a
    difference only beyond :data:`CLEAR` standard errors."""
    (mean_a, std_a), (mean_b, std_b) = spread(a), spread(b)
    diff = mean_a - mean_b
    error = math.sqrt(std_a**2 / len(a) + std_b**2 / len(b))
    numbers = (f'{diff:+.2f} points, standard error {error:.2f} over '
               f'{len(a)} and {len(b)} seeds')
    if abs(diff) <= CLEAR * error:
        return (f'{name_a} and {name_b} are within the seeds\' spread '
                f'({numbers}): no clear difference.')
    verdict = 'beats' if diff > 0 else 'is worse than'
    return f'{name_a} {verdict} {name_b} ({numbers}).'


def results(runs: dict, teacher_accuracy: float) -> tuple:
    """The table, the findings and the JSON of the demo's runs."""
    with open(osp.join(runs['kd']['dirs'][0], 'compute_report.json')) as f:
        kd_report = json.load(f)
    rows, data = [], {}
    for name, run in runs.items():
        top1 = [s['student_last_top1'] for s in run['summaries']]
        queries, gflops, ratio = compute_of(run['summaries'][0], kd_report)
        mean, std = spread(top1)
        rows.append((run['label'], mean, std, queries, gflops, ratio))
        data[name] = dict(
            label=run['label'],
            top1=top1,
            mean=mean,
            std=std,
            teacher_samples=queries,
            total_gflops=gflops,
            compute_vs_kd=ratio)
    lines = [
        '| Run | Top-1 (%), mean ± std | Teacher samples | Total GFLOPs | '
        'Compute vs KD |', '| --- | ---: | ---: | ---: | ---: |'
    ]
    for label, mean, std, queries, gflops, ratio in rows:
        lines.append(f'| {label} | {mean:.2f} ± {std:.2f} | {queries:,} | '
                     f'{gflops:.2f} | {ratio:.4f} |')
    top1 = {name: run['top1'] for name, run in data.items()}
    ce_mean = data['ce']['mean']
    findings = [
        f'The teacher scores {teacher_accuracy:.2f} %, '
        f'{teacher_accuracy - ce_mean:+.2f} points against the student '
        'alone.',
        compare('KD', top1['kd'], 'the student alone', top1['ce']),
        compare('UNIX', top1['unix'], 'the student alone', top1['ce']),
        compare('UNIX', top1['unix'], 'KD', top1['kd']) +
        f' UNIX asked the teacher for {data["unix"]["teacher_samples"]:,} '
        f'samples against KD\'s {data["kd"]["teacher_samples"]:,}, at '
        f'{data["unix"]["compute_vs_kd"]:.1%} of KD\'s compute.',
    ]
    return '\n'.join(lines), findings, data


def plot(data: dict, teacher_accuracy: float, path: str) -> None:
    """Accuracy against teacher samples and against compute, with the seeds'
    standard deviation as error bars."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    figure, panels = plt.subplots(1, 2, figsize=(10, 4), sharey=True)
    for axes, key, label in (
        (panels[0], 'teacher_samples', 'teacher samples (queries)'),
        (panels[1], 'total_gflops',
         'training compute of the student run (GFLOPs, fvcore)')):
        for run in data.values():
            axes.errorbar(
                run[key],
                run['mean'],
                yerr=run['std'],
                fmt='o',
                capsize=4,
                label=run['label'])
        axes.axhline(
            teacher_accuracy, linestyle='--', color='gray', label='teacher')
        axes.set_xlabel(label)
        axes.grid(alpha=0.3)
    panels[0].set_ylabel('top-1 on the test split (%), mean ± std')
    panels[1].legend(loc='lower right')
    seeds = len(next(iter(data.values()))['top1'])
    figure.suptitle(f'Digits, resnet20 -> resnet8 on 64 labels, {seeds} '
                    'seeds per method')
    figure.tight_layout()
    image = io.BytesIO()
    figure.savefig(image, format='png', dpi=120)
    plt.close(figure)
    write_atomically(path, image.getvalue())


def main():
    args = parse_args()
    started = time.time()
    # Networks this small gain nothing from more threads, and one thread
    # makes the numbers independent of the machine's number of cores: with
    # two, the sums run in another order and the seeds end elsewhere.
    torch.set_num_threads(1)
    register_all_modules(init_default_scope=False)
    teacher_options = QUICK_TEACHER if args.quick else {}
    student_options = QUICK_STUDENT if args.quick else {}

    print('[1/4] teacher: resnet20 on all 1,347 training digits', flush=True)
    checkpoint, teacher_accuracy, reused = teacher_checkpoint(
        args.work_dir, teacher_options, args.force)
    print(
        f'      {"reused" if reused else "trained"}: {checkpoint}, top-1 '
        f'{teacher_accuracy:.2f} %' +
        (' (--force retrains it)' if reused else ''),
        flush=True)

    runs = {}
    for step, (name, label, config) in enumerate(STUDENT_RUNS, start=2):
        runs[name] = dict(label=label, summaries=[], dirs=[])
        print(f'[{step}/4] {label}, {args.seeds} seeds:', end='', flush=True)
        for seed in range(args.seeds):
            options = {**student_options, 'randomness.seed': seed}
            if name != 'ce':
                options['model.teacher_ckpt'] = checkpoint
                options['default_hooks.teacher_eval.student_baseline_top1'] \
                    = statistics.mean(
                        s['student_last_top1']
                        for s in runs['ce']['summaries'])
            folder = osp.join(args.work_dir, f'{name}_seed{seed}')
            summary = train(load_config(config, options, folder))
            runs[name]['summaries'].append(summary)
            runs[name]['dirs'].append(folder)
            print(f' {summary["student_last_top1"]:.2f}', end='', flush=True)
        print(flush=True)

    table, findings, data = results(runs, teacher_accuracy)
    epochs = Config.fromfile(osp.join(CONFIG_DIR,
                                      STUDENT_RUNS[0][2])).train_cfg.max_epochs
    epochs = student_options.get('train_cfg.max_epochs', epochs)
    note = (f'Teacher resnet20 ({"reused" if reused else "trained now"}): '
            f'top-1 {teacher_accuracy:.2f} % on the 450 test digits. Each '
            f'student trains {epochs} epochs on 64 training digits and is '
            'tested on the 450; compute counts the student runs only '
            '(fvcore, a backward costs one forward).')
    if args.quick:
        note += (' --quick trains a few epochs: the numbers check the '
                 'pipeline, not the method.')
    text = '\n'.join([table, '', note, ''] + [f'- {f}' for f in findings])
    write_atomically(
        osp.join(args.work_dir, 'results.md'), f'# mmunix demo\n\n{text}\n')
    write_atomically(
        osp.join(args.work_dir, 'results.json'),
        json.dumps(
            dict(
                teacher_top1=teacher_accuracy,
                teacher_reused=reused,
                runs=data),
            indent=2))
    png = osp.join(args.work_dir, 'accuracy_vs_compute.png')
    plot(data, teacher_accuracy, png)
    print(f'\n{text}\n')
    print(f'Done in {time.time() - started:.0f} s. Results: '
          f'{osp.join(args.work_dir, "results.md")}, plot: {png}, runs in '
          f'{args.work_dir}/')


if __name__ == '__main__':
    main()
