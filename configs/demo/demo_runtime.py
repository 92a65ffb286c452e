# The runtime of every demo run: mmunix's default, seeded, logging often
# enough to show progress, keeping only the last checkpoint.
_base_ = ['../_base_/default_runtime.py']
default_hooks = dict(
    logger=dict(interval=11),
    checkpoint=dict(interval=3, max_keep_ckpts=1, save_best=None))
randomness = dict(seed=0)
