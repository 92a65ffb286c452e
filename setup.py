"""Install mmunix.

Like mmpretrain, mmunix does not force an ``mmcv`` flavour: a full ``mmcv``
(with compiled ops) may already be installed and must not be overwritten. Pick
the ``lite`` extra on machines without one (no compiler or GPU needed)::

    pip install -e ".[lite,demo,tests]"

Like mmpretrain's, the installed package carries ``configs/``, ``tools/`` and
``model-index.yml`` in ``mmunix/.mim/``, where OpenMMLab's ``mim`` (``mim
train mmunix ...``) and mmpretrain's ``ModelHub`` look for them
(docs/mim.md): an editable install links them from the repository, and a
wheel carries copies.
"""
import os
import os.path as osp
import platform
import shutil
import sys
from setuptools import find_packages, setup
from setuptools.command.build_py import build_py

HERE = osp.dirname(osp.abspath(__file__))

#: What ``mmunix/.mim`` holds, relative to the repository root.
MIM_FILES = ('configs', 'tools', 'model-index.yml')


def read_requirements(name):
    """Return the requirement lines of ``requirements/<name>.txt``."""
    with open(osp.join(HERE, 'requirements', f'{name}.txt')) as f:
        lines = (line.split('#')[0].strip() for line in f)
        return [line for line in lines if line]


def read_version():
    namespace = {}
    with open(osp.join(HERE, 'mmunix', 'version.py')) as f:
        exec(compile(f.read(), 'version.py', 'exec'), namespace)
    return namespace['__version__']


def is_editable_install(argv) -> bool:
    """Whether setuptools runs for ``pip install -e .``.

    Pip runs the ``editable_wheel`` command (PEP 660); setuptools before 64 ran
    ``develop``.
    """
    return 'editable_wheel' in argv or 'develop' in argv


def add_mim_extension(src_root: str, mim_dir: str, mode: str) -> None:
    """Link (``mode='symlink'``) or copy (``'copy'``) :data:`MIM_FILES` of
    ``src_root`` into ``mim_dir``, replacing what is there.

    Links are relative, so a moved checkout keeps working. Files missing from
    ``src_root`` are skipped.
    """
    os.makedirs(mim_dir, exist_ok=True)
    for name in MIM_FILES:
        src, dst = osp.join(src_root, name), osp.join(mim_dir, name)
        if not osp.exists(src):
            continue
        if osp.islink(dst) or osp.isfile(dst):
            os.remove(dst)
        elif osp.isdir(dst):
            shutil.rmtree(dst)
        if mode == 'symlink':
            os.symlink(osp.relpath(src, mim_dir), dst)
        elif osp.isdir(src):
            shutil.copytree(
                src,
                dst,
                ignore=shutil.ignore_patterns('__pycache__', '*.pyc'))
        else:
            shutil.copyfile(src, dst)


class BuildPyWithMim(build_py):
    """``build_py`` that also copies :data:`MIM_FILES` into the wheel's
    ``mmunix/.mim``, leaving the source tree as it is."""

    def run(self):
        super().run()
        if not getattr(self, 'editable_mode', False):
            add_mim_extension(HERE, osp.join(self.build_lib, 'mmunix', '.mim'),
                              'copy')


extras = {name: read_requirements(name) for name in ('lite', 'demo', 'tests')}
# The OpenMMLab requirements with a full mmcv, as mmpretrain's `mim` extra.
extras['mim'] = read_requirements('mminstall')

if __name__ == '__main__':
    if is_editable_install(sys.argv):
        # The editable package is the source tree: link its .mim there. On
        # Windows, where links need privileges, copy as mmpretrain does.
        add_mim_extension(
            HERE, osp.join(HERE, 'mmunix', '.mim'),
            'copy' if platform.system() == 'Windows' else 'symlink')
    setup(
        name='mmunix',
        version=read_version(),
        description='Computation-efficient knowledge distillation with '
        'uncertainty-aware mixup (UNIX) on MMEngine and mmpretrain',
        long_description=open(osp.join(HERE, 'README.md')).read(),
        long_description_content_type='text/markdown',
        license='Apache License 2.0',
        license_files=['LICENSE'],
        packages=find_packages(exclude=('configs', 'tools', 'tests', 'docs')),
        python_requires='>=3.8',
        install_requires=read_requirements('runtime'),
        extras_require=extras,
        cmdclass={'build_py': BuildPyWithMim},
        zip_safe=False,
    )
