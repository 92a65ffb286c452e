# The runtime of every demo run: mmunix's default, seeded, keeping only the
# final checkpoint.
_base_ = ['../_base_/default_runtime.py']
default_hooks = dict(
    logger=dict(interval=10),
    checkpoint=dict(interval=100, max_keep_ckpts=1, save_best=None))
randomness = dict(seed=0)
