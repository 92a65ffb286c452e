"""tools/run_demo.py: the offline demo, shortened with --quick."""
import importlib.util
import json
import os.path as osp
import re

from conftest import PYTHON, REPO_ROOT, assert_ok, run_tool


def load_demo_module():
    spec = importlib.util.spec_from_file_location(
        'run_demo', osp.join(REPO_ROOT, 'tools', 'run_demo.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def table_rows(text: str) -> dict:
    rows = {}
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip('|').split('|')]
        if len(cells) == 5 and cells[0].startswith('resnet8'):
            rows[cells[0]] = cells[1:]
    return rows


def test_quick_demo_prints_the_table_and_writes_the_plot(tmp_path):
    work_dir = tmp_path / 'demo'
    result = run_tool(
        [PYTHON, 'tools/run_demo.py', '--quick', '--work-dir',
         str(work_dir)], timeout=600)
    assert_ok(result)
    out = result.stdout
    for step in ('[1/4] training the teacher', '[2/4]', '[3/4]', '[4/4]'):
        assert step in out
    rows = table_rows(out)
    assert set(rows) == {
        'resnet8 alone (CE)', 'resnet8, KD', 'resnet8, UNIX'
    }
    # --quick: 128 images in 2 batches of 64; UNIX keeps 48 of each.
    assert rows['resnet8 alone (CE)'][1] == '0'
    assert rows['resnet8, KD'][1] == '128'
    assert rows['resnet8, UNIX'][1] == '96'
    assert rows['resnet8, KD'][3] == '1.0000'
    assert float(rows['resnet8, UNIX'][3]) < 1.0
    assert float(rows['resnet8 alone (CE)'][3]) < float(
        rows['resnet8, UNIX'][3])
    for accuracy, *_ in rows.values():
        assert 0 <= float(accuracy) <= 100

    png = work_dir / 'accuracy_vs_compute.png'
    assert png.read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'
    assert table_rows((work_dir / 'results.md').read_text()) == rows
    summary = json.loads((work_dir / 'teacher' / 'demo_teacher.json')
                         .read_text())
    assert osp.isfile(summary['checkpoint'])
    assert re.search(r'Done in \d+ s', out)


def test_a_finished_teacher_is_reused_unless_forced(tmp_path, capsys):
    demo = load_demo_module()
    folder = tmp_path / 'teacher'
    folder.mkdir()
    checkpoint = folder / 'epoch_15.pth'
    checkpoint.write_bytes(b'weights')
    (folder / 'demo_teacher.json').write_text(
        json.dumps(dict(checkpoint=str(checkpoint), accuracy=98.5)))

    assert demo.teacher_checkpoint(str(tmp_path), [], force=False) == (
        str(checkpoint), 98.5)
    assert 'reusing the teacher' in capsys.readouterr().out

    trained = []
    demo.train = lambda *args: trained.append(args[0]) or 99.0
    (folder / 'last_checkpoint').write_text(str(checkpoint))
    assert demo.teacher_checkpoint(str(tmp_path), [], force=True) == (
        str(checkpoint), 99.0)
    assert trained == ['teacher']
