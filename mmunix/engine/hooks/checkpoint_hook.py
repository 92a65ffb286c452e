"""MMEngine's CheckpointHook, without its two unsafe moments."""
import os.path as osp

from mmengine.dist import is_main_process
from mmengine.hooks import CheckpointHook as MMEngineCheckpointHook

from mmunix.registry import HOOKS
from mmunix.utils.atomic_save import write_atomically


@HOOKS.register_module()
class CheckpointHook(MMEngineCheckpointHook):
    """MMEngine's ``CheckpointHook`` (same arguments, same files), except:

    - ``last_checkpoint`` is written atomically. MMEngine opens it for
      writing in place, so a kill at that moment leaves it empty.
    - With ``max_keep_ckpts``, the oldest checkpoint is deleted only after
      the new one has been saved. MMEngine deletes it first, so a save that
      fails (a full disk, a kill) leaves one checkpoint fewer than asked.

    Checkpoints themselves are written whole or not at all by
    :class:`~mmunix.engine.AtomicLocalBackend`. Registered under MMEngine's
    name in mmunix's scope, so ``type='CheckpointHook'`` in a config with
    ``default_scope='mmunix'`` builds this one.
    """

    def _save_checkpoint_with_step(self, runner, step, meta):
        expired = []
        # _save_checkpoint and _save_best_checkpoint may both save `step`.
        if self.max_keep_ckpts > 0 and (not self.keep_ckpt_ids
                                        or self.keep_ckpt_ids[-1] != step):
            if len(self.keep_ckpt_ids) == self.max_keep_ckpts:
                expired.append(self.keep_ckpt_ids.popleft())
            self.keep_ckpt_ids.append(step)
            # Saved with the checkpoint, so that a resumed run deletes what
            # this one would have.
            runner.message_hub.update_info('keep_ckpt_ids',
                                           list(self.keep_ckpt_ids))

        filename = self.filename_tmpl.format(step)
        self.last_ckpt = self.file_backend.join_path(self.out_dir, filename)
        runner.message_hub.update_info('last_ckpt', self.last_ckpt)
        runner.save_checkpoint(
            self.out_dir,
            filename,
            self.file_client_args,
            save_optimizer=self.save_optimizer,
            save_param_scheduler=self.save_param_scheduler,
            meta=meta,
            by_epoch=self.by_epoch,
            backend_args=self.backend_args,
            **self.args)
        # Sharded (model-parallel) saves involve every process; the files
        # below are the main process's.
        if not is_main_process():
            return
        write_atomically(
            osp.join(runner.work_dir, 'last_checkpoint'), self.last_ckpt)
        for old in expired:
            self._remove(
                self.file_backend.join_path(self.out_dir,
                                            self.filename_tmpl.format(old)))

    def _remove(self, path: str) -> None:
        if self.file_backend.isfile(path):
            self.file_backend.remove(path)
        elif self.file_backend.isdir(path):  # DeepSpeed saves folders
            self.file_backend.rmtree(path)
