"""The offline demo: UNIX against KD on scikit-learn's handwritten digits.

It trains a resnet20 teacher, then distils a resnet8 student three ways
(cross-entropy alone, conventional KD, UNIX), each with ``tools/train.py``
and a config of ``configs/demo/``. It prints a Markdown table of top-1
accuracy against teacher queries and compute, and writes it with a plot of
accuracy against compute to the work dir. A finished teacher is reused
unless ``--force`` is given. Needs no download; a few minutes on a CPU.

Usage::

    python tools/run_demo.py [--work-dir work_dirs/demo] [--force] [--quick]
"""
import argparse
import io
import json
import os
import os.path as osp
import re
import subprocess
import sys
import time

from mmengine.config import Config

from mmunix.utils.atomic_save import write_atomically

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
CONFIG_DIR = osp.join(REPO_ROOT, 'configs', 'demo')
TEACHER = 'teacher_resnet20_digits.py'
#: (run name, label in the table, config)
STUDENT_RUNS = [
    ('student_ce', 'resnet8 alone (CE)', 'student_resnet8_digits.py'),
    ('student_kd', 'resnet8, KD', 'kd_r20_r8_digits.py'),
    ('student_unix', 'resnet8, UNIX', 'unix_r20_r8_digits.py'),
]
#: --quick: one epoch on small subsets, to check the pipeline in seconds.
QUICK_OPTIONS = [
    'train_cfg.max_epochs=1', 'param_scheduler.T_max=1',
    'train_dataloader.dataset.indices=128',
    'val_dataloader.dataset.indices=64'
]
ACCURACY = re.compile(r'Epoch\(val\).*accuracy/top1: ([\d.]+)')
PROGRESS = re.compile(r'(Epoch\((?:train|val)\) +\[\d+\](?:\[\d+/\d+\])?)'
                      r'.*?((?:loss|accuracy/top1): [\d.]+)')


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument(
        '--work-dir', default=None, help='default: work_dirs/demo '
        '(work_dirs/demo_quick with --quick)')
    parser.add_argument(
        '--force', action='store_true', help='retrain the teacher')
    parser.add_argument(
        '--quick', action='store_true',
        help='one epoch on a subset: checks the pipeline, not the method')
    args = parser.parse_args()
    if args.work_dir is None:
        args.work_dir = osp.join(
            'work_dirs', 'demo_quick' if args.quick else 'demo')
    return args


def train(name: str, config: str, work_dir: str, options: list) -> float:
    """Run ``tools/train.py`` with condensed progress; return top-1 (%)."""
    command = [
        sys.executable,
        osp.join(REPO_ROOT, 'tools', 'train.py'),
        osp.join(CONFIG_DIR, config), '--work-dir', work_dir,
        # The demo owns its work dirs: running it again redoes its runs.
        '--overwrite'
    ]
    if options:
        command += ['--cfg-options', *options]
    env = dict(os.environ)
    env['PYTHONPATH'] = os.pathsep.join(
        filter(None, [REPO_ROOT, env.get('PYTHONPATH')]))
    accuracy, tail = None, []
    with subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            text=True, env=env) as process:
        for line in process.stdout:
            tail = (tail + [line])[-40:]
            progress = PROGRESS.search(line)
            if progress:
                print(f'  {name:<13} {progress.group(1)}  '
                      f'{progress.group(2)}', flush=True)
            found = ACCURACY.search(line)
            if found:
                accuracy = float(found.group(1))
    if process.returncode != 0 or accuracy is None:
        sys.stdout.write(''.join(tail))
        raise SystemExit(f'{name}: tools/train.py failed '
                         f'(exit {process.returncode}); see the log above '
                         f'and {work_dir}')
    return accuracy


def teacher_checkpoint(work_dir: str, options: list, force: bool) -> tuple:
    """Train the teacher, or reuse a finished one; return (path, top-1)."""
    folder = osp.join(work_dir, 'teacher')
    summary = osp.join(folder, 'demo_teacher.json')
    if osp.isfile(summary) and not force:
        with open(summary) as f:
            done = json.load(f)
        if osp.isfile(done['checkpoint']):
            print(f'[1/4] reusing the teacher {done["checkpoint"]} '
                  f'(top-1 {done["accuracy"]:.2f} %); --force retrains it')
            return done['checkpoint'], done['accuracy']
    print('[1/4] training the teacher: resnet20', flush=True)
    accuracy = train('teacher', TEACHER, folder, options)
    with open(osp.join(folder, 'last_checkpoint')) as f:
        checkpoint = f.read().strip()
    write_atomically(
        summary, json.dumps(dict(checkpoint=checkpoint, accuracy=accuracy)))
    return checkpoint, accuracy


def compute_of(work_dir: str, kd_report: dict):
    """(teacher samples, GFLOPs, ratio vs KD) of one student run."""
    from mmunix.engine import TeacherQueryHook
    from mmunix.utils.compute_cost import ComputeCost
    report_file = osp.join(work_dir, TeacherQueryHook.REPORT_FILE)
    if osp.isfile(report_file):
        with open(report_file) as f:
            report = json.load(f)
        return (report['teacher_samples'], report['total_flops'] / 1e9,
                report['compute_ratio_vs_kd'])
    # The student alone: no teacher, no scoring, the same batches as KD.
    cost = ComputeCost(kd_report['teacher_flops_per_sample'],
                       kd_report['student_flops_per_sample'],
                       kd_report['backward_factor'])
    samples = kd_report['batch_samples']
    total = cost.total(0, 0, samples)
    return 0, total / 1e9, total / cost.kd(samples)


def markdown_table(rows: list) -> str:
    lines = [
        '| Run | Top-1 (%) | Teacher samples | Total GFLOPs | '
        'Compute vs KD |', '| --- | ---: | ---: | ---: | ---: |'
    ]
    for label, accuracy, queries, gflops, ratio in rows:
        lines.append(f'| {label} | {accuracy:.2f} | {queries} | '
                     f'{gflops:.1f} | {ratio:.4f} |')
    return '\n'.join(lines)


def plot(rows: list, path: str) -> None:
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    figure, axes = plt.subplots(figsize=(6, 4))
    for label, accuracy, _, gflops, _ in rows:
        axes.scatter(gflops, accuracy, s=60)
        axes.annotate(label, (gflops, accuracy), textcoords='offset points',
                      xytext=(6, 4))
    axes.set_xlabel('training compute of the student run (GFLOPs, fvcore)')
    axes.set_ylabel('top-1 accuracy on the test split (%)')
    axes.set_title('Digits: accuracy against compute')
    axes.grid(alpha=0.3)
    figure.tight_layout()
    image = io.BytesIO()
    figure.savefig(image, format='png', dpi=120)
    plt.close(figure)
    write_atomically(path, image.getvalue())


def main():
    args = parse_args()
    started = time.time()
    os.makedirs(args.work_dir, exist_ok=True)
    options = QUICK_OPTIONS if args.quick else []
    checkpoint, teacher_accuracy = teacher_checkpoint(args.work_dir, options,
                                                      args.force)

    results = {}
    for step, (name, label, config) in enumerate(STUDENT_RUNS, start=2):
        print(f'[{step}/4] {label}  ({time.time() - started:.0f} s so far)',
              flush=True)
        extra = [] if name == 'student_ce' else [
            f'model.teacher_ckpt={checkpoint}'
        ]
        folder = osp.join(args.work_dir, name)
        results[name] = (label, train(name, config, folder,
                                      options + extra), folder)

    with open(osp.join(results['student_kd'][2], 'compute_report.json')) as f:
        kd_report = json.load(f)
    rows = [(label, accuracy, *compute_of(folder, kd_report))
            for label, accuracy, folder in results.values()]
    table = markdown_table(rows)
    if args.quick:
        data = '1 epoch on 128 training digits, tested on 64 (--quick)'
    else:
        epochs = Config.fromfile(osp.join(CONFIG_DIR,
                                          TEACHER)).train_cfg.max_epochs
        data = (f'{epochs} epochs on the 1,347 training digits, tested on '
                'the other 450')
    note = (f'Teacher resnet20: top-1 {teacher_accuracy:.2f} %. Each run '
            f'trains {data}. Compute counts the student runs only (fvcore, '
            'a backward costs one forward).')
    write_atomically(
        osp.join(args.work_dir, 'results.md'),
        f'# mmunix demo\n\n{table}\n\n{note}\n')
    png = osp.join(args.work_dir, 'accuracy_vs_compute.png')
    plot(rows, png)
    print(f'\n{table}\n\n{note}\n')
    print(f'Done in {time.time() - started:.0f} s. Results: '
          f'{osp.join(args.work_dir, "results.md")}, plot: {png}, runs in '
          f'{args.work_dir}/')


if __name__ == '__main__':
    main()
