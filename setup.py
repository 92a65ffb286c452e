"""Install mmunix.

Like mmpretrain, mmunix does not force an ``mmcv`` flavour: a full ``mmcv``
(with compiled ops) may already be installed and must not be overwritten. Pick
the ``lite`` extra on machines without one (no compiler or GPU needed)::

    pip install -e ".[lite,demo,tests]"
"""
import os.path as osp
from setuptools import find_packages, setup

HERE = osp.dirname(osp.abspath(__file__))


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


extras = {name: read_requirements(name) for name in ('lite', 'demo', 'tests')}

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
    zip_safe=False,
)
