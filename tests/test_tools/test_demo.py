"""tools/run_demo.py: the offline demo, shortened with --quick."""
import json
import os.path as osp
import re

import pytest
from conftest import PYTHON, assert_ok, run_tool

LABELS = ('resnet8 alone (CE)', 'resnet8, KD', 'resnet8, UNIX')


def table_rows(text: str) -> dict:
    rows = {}
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip('|').split('|')]
        if len(cells) == 5 and cells[0] in LABELS:
            rows[cells[0]] = cells[1:]
    return rows


def demo(work_dir, *args):
    result = run_tool([
        PYTHON, 'tools/run_demo.py', '--quick', '--work-dir',
        str(work_dir), *args
    ],
                      timeout=600)
    assert_ok(result)
    return result.stdout


@pytest.mark.slow
def test_quick_demo_prints_the_table_and_reuses_its_teacher(tmp_path):
    work_dir = tmp_path / 'demo'
    out = demo(work_dir)

    assert '[1/4] teacher' in out and '      trained: ' in out
    for step in ('[2/4] resnet8 alone (CE), 2 seeds:',
                 '[3/4] resnet8, KD, 2 seeds:',
                 '[4/4] resnet8, UNIX, 2 seeds:'):
        assert step in out
    rows = table_rows(out)
    assert set(rows) == set(LABELS)
    # 64 digits, one batch per epoch, 10 epochs; UNIX keeps 48 of 64.
    assert rows['resnet8 alone (CE)'][1] == '0'
    assert rows['resnet8, KD'][1] == '640'
    assert rows['resnet8, UNIX'][1] == '480'
    assert rows['resnet8, KD'][3] == '1.0000'
    assert float(rows['resnet8 alone (CE)'][3]) < float(
        rows['resnet8, UNIX'][3]) < 1.0
    for mean_std, *_ in rows.values():
        assert re.fullmatch(r'\d+\.\d\d ± \d+\.\d\d', mean_std)
    # Every comparison is stated with its numbers, claimed or not.
    assert len(
        re.findall(r'standard error \d+\.\d\d over 2 and 2 seeds', out)) == 3

    results = json.loads((work_dir / 'results.json').read_text())
    assert [len(run['top1']) for run in results['runs'].values()] == [2] * 3
    assert table_rows((work_dir / 'results.md').read_text()) == rows
    png = work_dir / 'accuracy_vs_compute.png'
    assert png.read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'
    teacher = json.loads(
        (work_dir / 'teacher' / 'demo_teacher.json').read_text())
    assert osp.isfile(teacher['checkpoint'])
    assert re.search(r'Done in \d+ s', out)

    # Run again: the teacher of the same config is reused, the students'
    # work dirs are trained anew.
    again = demo(work_dir)
    assert f'      reused: {teacher["checkpoint"]}' in again
    assert '(--force retrains it)' in again
    assert table_rows(again) == rows  # seeded: the same numbers
