"""Knowledge distillation of an image classifier, with or without UNIX."""
import copy
from typing import Dict, Iterator, Optional, Tuple

import torch
from mmengine.logging import MMLogger
from mmengine.model import BaseModel
from mmengine.runner.checkpoint import (_load_checkpoint,
                                        _load_checkpoint_to_model)
from torch import nn

from mmunix.engine import UnreadableCheckpointError
from mmunix.models.data_preprocessors import (UNIX_ONLY_KEYS,
                                              DeviceClsDataPreprocessor,
                                              MixedBatch, UNIXDataPreprocessor)
from mmunix.models.utils.classifier_outputs import (DISTILL_INPUTS, LOGITS,
                                                    STAGES, classify,
                                                    exposes_features)
from mmunix.registry import MODELS
from mmunix.utils import model_config
from mmunix.utils.complexity import (eval_mode, measure_called_flops,
                                     measure_complexity)
from mmunix.utils.compute_cost import ComputeCost
from mmunix.utils.state_dict_mismatch import (checkpoint_state_dict,
                                              describe_mismatch,
                                              non_finite_tensors)

#: Where a ClassificationDistiller's state dict keeps its two classifiers.
DISTILLER_PREFIXES = ('student.', 'teacher.')


@MODELS.register_module()
class ClassificationDistiller(BaseModel):
    """Distil a frozen teacher classifier into a student classifier.

    The student and the teacher are any mmpretrain classifiers. Logits come
    from their own forward; losses on embeddings or stage features need
    classifiers built as backbone, optional neck and head (an
    ``ImageClassifier``). The data preprocessor decides the method:

    - :class:`DeviceClsDataPreprocessor` (the default), or mmpretrain's
      ``ClsDataPreprocessor``: conventional KD. The teacher and the student's
      training step see all ``N`` clean samples.
    - :class:`UNIXDataPreprocessor`: UNIX (docs/algorithm.md). The student
      scores the batch in a no-grad forward, and the teacher and the
      student's training step see only the ``k`` mixed samples that remain.

    Everything runs inside :meth:`loss`, the only method besides the data
    preprocessor that MMEngine's DDP wrapper calls, so one process does
    exactly what each DDP rank does.

    Args:
        student (dict): Student classifier config, e.g. an
            ``ImageClassifier``, or ``dict(cfg_path=PATH, **overrides)`` to
            take the ``model`` of another config file (a path, or
            ``'mmpretrain::resnet/resnet18_8xb32_in1k.py'``).
        teacher (dict): Teacher classifier config, in the same forms.
        teacher_ckpt (str, optional): Teacher checkpoint, loaded strictly
            when the model is built. ``None`` keeps a random teacher, which
            is only meaningful for tests and speed benchmarks.
        kd_loss (dict, optional): Loss on ``(student_logits,
            teacher_logits)``, or on the outputs its ``distill_input``
            names (see below). Defaults to ``KDLoss`` with ``T=4``.
        ce_loss (dict, optional): Loss on ``(student_logits, soft_targets)``
            where the targets are ``(1-m)·onehot(y_a) + m·onehot(y_b)`` under
            UNIX and one-hot labels under KD. It must accept soft targets.
            Defaults to a soft ``CrossEntropyLoss`` with weight 0, the
            reference recipe.
        feature_losses (dict, optional): ``name -> loss config`` of losses on
            ``(student_outputs, teacher_outputs)``. By default these are the
            tuples of stage features the two backbones return (set
            ``out_indices`` on both). Names start with ``loss_`` so that
            MMEngine sums them.
        data_preprocessor (dict, optional): See above.
        init_cfg (dict, optional): Initialisation config of the student.

    A loss module declares what it needs with class attributes (see
    docs/extending.md):

    - ``distill_input``: ``'logits'``, ``'embedding'`` or ``'stages'``
      (:mod:`mmunix.models.utils.classifier_outputs`). Defaults to
      ``'logits'`` for ``kd_loss`` and ``'stages'`` for ``feature_losses``.
    - ``uses_labels``: it is also called with ``labels=``, the ``(k,)``
      labels of the samples' base images (``y_a`` under UNIX).
    - ``uses_sample_indices``: it is also called with ``sample_indices=``,
      the ``(k,)`` dataset indices of the base images (each
      ``DataSample.sample_idx``, which mmpretrain's ``PackInputs`` keeps).

    Note:
        A feature loss whose ``loss_weight`` is 0 is not built, and no
        loss with weight 0 is computed; so under DDP every parameter of a
        loss (a connector, an embedding head) receives a gradient, and
        ``find_unused_parameters=False`` works.
    """

    def __init__(self,
                 student: dict,
                 teacher: dict,
                 teacher_ckpt: Optional[str] = None,
                 kd_loss: Optional[dict] = dict(
                     type='KDLoss', temperature=4.0, loss_weight=1.0),
                 ce_loss: Optional[dict] = dict(
                     type='CrossEntropyLoss', use_soft=True, loss_weight=0.0),
                 feature_losses: Optional[Dict[str, dict]] = None,
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[dict] = None):
        data_preprocessor = dict(data_preprocessor or {})
        unix_keys = sorted(set(data_preprocessor) & UNIX_ONLY_KEYS)
        if unix_keys and 'type' not in data_preprocessor:
            # Most likely `--cfg-options model.data_preprocessor.<key>=...`,
            # which replaces the merged top-level data_preprocessor: without
            # this check the run would silently fall back to KD.
            raise ValueError(
                f'model.data_preprocessor sets {", ".join(unix_keys)} but no '
                'type, so it would build a plain DeviceClsDataPreprocessor '
                '(KD). '
                'Set UNIX keys on the top-level data_preprocessor, e.g. '
                f'--cfg-options data_preprocessor.{unix_keys[0]}=..., or give '
                "type='UNIXDataPreprocessor' with the normalisation keys")
        data_preprocessor.setdefault('type', DeviceClsDataPreprocessor)
        super().__init__(
            data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        self.student = MODELS.build(model_config(student, 'model.student'))
        self.teacher = MODELS.build(model_config(teacher, 'model.teacher'))
        self._load_teacher(teacher_ckpt)
        self.teacher.requires_grad_(False)
        self.teacher.eval()

        self.kd_loss = self._build_loss(kd_loss, 'model.kd_loss')
        if not _active(self.kd_loss) and any(
                True for _ in getattr(self.kd_loss, 'parameters', list)()):
            raise ValueError(
                f'model.kd_loss ({type(self.kd_loss).__name__}) has trainable '
                'parameters but loss_weight=0, so they would never get a '
                'gradient (DDP with find_unused_parameters=False fails on '
                'them): set model.kd_loss=None, or give it a weight, or put '
                'it in model.feature_losses, where a loss of weight 0 is not '
                'built')
        self.ce_loss = self._build_loss(ce_loss, 'model.ce_loss')
        if self.ce_loss is not None and not getattr(self.ce_loss, 'use_soft',
                                                    True):
            raise ValueError(
                'model.ce_loss must take soft targets, the mixed labels of '
                'UNIX: set model.ce_loss.use_soft=True')
        if not isinstance(feature_losses, (dict, type(None))):
            raise TypeError(
                'model.feature_losses must be a dict of name -> loss config, '
                f"e.g. dict(loss_at=dict(type='ATLoss')), got "
                f'{type(feature_losses).__name__}')
        self.feature_losses = nn.ModuleDict()
        for name, cfg in (feature_losses or {}).items():
            if not name.startswith('loss_'):
                raise ValueError(
                    f'model.feature_losses.{name}: names must start with '
                    "'loss_' so that MMEngine adds the loss up, e.g. "
                    f"'loss_{name}'")
            loss = self._build_loss(cfg, f'model.feature_losses.{name}')
            if _active(loss):
                self.feature_losses[name] = loss
        if not any(
                _active(loss) for loss in (self.kd_loss, self.ce_loss,
                                           *self.feature_losses.values())):
            raise ValueError(
                'model.kd_loss, model.ce_loss and model.feature_losses give '
                'no loss to train on (each is None or has loss_weight=0); '
                'keep at least one, e.g. the default '
                "kd_loss=dict(type='KDLoss', temperature=4.0, "
                'loss_weight=1.0)')
        self._needs = self._check_distill_inputs()

        #: Samples of the last training iteration on this process: the batch
        #: drawn, then those in the student's scoring forward, the teacher's
        #: forward and the student's training step.
        self.sample_counts = dict(
            batch=0, student_scoring=0, teacher=0, student_train=0)
        #: ``(b,)`` batch positions of the last UNIX iteration's clean, most
        #: uncertain samples (step 8 in docs/algorithm.md); ``None`` under
        #: KD.
        self.hard_positions = None
        self._flops_per_sample = {}

    def distill_losses(self) -> Iterator[Tuple[str, nn.Module, str, str]]:
        """The active losses on student and teacher outputs.

        Yields:
            tuple: ``(output name, loss, distill_input, config key)``.
        """
        if _active(self.kd_loss):
            yield ('loss_kd', self.kd_loss,
                   getattr(self.kd_loss, 'distill_input',
                           LOGITS), 'model.kd_loss')
        for name, loss in self.feature_losses.items():
            yield (name, loss, getattr(loss, 'distill_input',
                                       STAGES), f'model.feature_losses.{name}')

    def _check_distill_inputs(self) -> Dict[str, bool]:
        """Refuse a loss on outputs that a classifier cannot give.

        Returns:
            dict: which outputs the losses need: ``kinds``, the set of
            ``distill_input`` values besides logits, and ``sample_indices``.
        """
        kinds, sample_indices = set(), False
        for _, loss, kind, key in self.distill_losses():
            if kind not in DISTILL_INPUTS:
                raise ValueError(
                    f'{key}: {type(loss).__name__}.distill_input={kind!r} '
                    f'must be one of {", ".join(map(repr, DISTILL_INPUTS))}')
            for role in ('student', 'teacher'):
                classifier = getattr(self, role)
                if kind != LOGITS and not exposes_features(classifier):
                    raise ValueError(
                        f'{key} ({type(loss).__name__}) compares {kind}, but '
                        f'model.{role} is a {type(classifier).__name__}, '
                        'which exposes only its logits; use a loss on logits '
                        '(e.g. KDLoss or DKDLoss) for it, or a classifier '
                        'built as backbone, neck and head (ImageClassifier)')
            if kind != LOGITS:
                kinds.add(kind)
            sample_indices |= getattr(loss, 'uses_sample_indices', False)
        return dict(kinds=kinds, sample_indices=sample_indices)

    def _load_teacher(self, checkpoint: Optional[str]) -> None:
        logger = MMLogger.get_current_instance()
        if not isinstance(checkpoint, (str, type(None))):
            raise TypeError(f'model.teacher_ckpt={checkpoint!r} must be a '
                            'path or URL string, or None')
        if checkpoint is None:
            logger.warning('model.teacher_ckpt is None: the teacher keeps its '
                           'random initialisation (fine for tests and speed '
                           'benchmarks, useless for distillation).')
            return
        try:
            loaded = _load_checkpoint(
                checkpoint, map_location='cpu', logger=logger)
        except FileNotFoundError as error:
            raise FileNotFoundError(
                f'model.teacher_ckpt={checkpoint!r} does not exist. Train the '
                'teacher first (configs/teachers/) or convert a community '
                'checkpoint (tools/model_converters/community_to_mmunix.py).'
            ) from error
        except UnreadableCheckpointError as error:
            raise UnreadableCheckpointError(
                f'model.teacher_ckpt={checkpoint!r}: {error}') from error
        mismatch = (f'model.teacher_ckpt={checkpoint!r} does not match '
                    'model.teacher '
                    f'({_describe(self.teacher)}):')
        # Checked before loading: PyTorch's strict-loading error lists every
        # key, kilobytes of them for a checkpoint of another network. The
        # two halves of MMEngine's load_checkpoint read the file only once.
        problem = teacher_mismatch(self.teacher.state_dict(), loaded)
        if problem:
            raise RuntimeError(f'{mismatch} {problem}')
        broken = non_finite_tensors(checkpoint_state_dict(loaded))
        if broken:
            raise ValueError(
                f'model.teacher_ckpt={checkpoint!r} holds NaN or Inf in '
                f'{len(broken)} tensor(s) (e.g. {", ".join(broken[:3])}): it '
                'was saved by a teacher run that diverged; use an earlier '
                'checkpoint of that run')
        try:
            _load_checkpoint_to_model(
                self.teacher, loaded, strict=True, logger=logger)
        except RuntimeError as error:  # e.g. a number where a tensor goes
            raise RuntimeError(f'{mismatch}\n{error}') from error
        # Runner.init_weights would re-initialise the loaded teacher.
        self.teacher._is_init = True

    @staticmethod
    def _build_loss(cfg: Optional[dict], key: str) -> Optional[nn.Module]:
        if cfg is None:
            return None
        try:
            return MODELS.build(cfg)
        except KeyError as error:
            raise KeyError(f'{key}.type={cfg.get("type")!r}: {error}') \
                from error
        except (TypeError, ValueError) as error:  # e.g. an unknown argument
            raise type(error)(f'{key}: {error}') from error

    @property
    def uses_unix(self) -> bool:
        return isinstance(self.data_preprocessor, UNIXDataPreprocessor)

    def train(self, mode: bool = True):
        """Switch the student only: the teacher stays in eval mode, so its
        BatchNorm statistics and dropout never change."""
        super().train(mode)
        self.teacher.eval()
        return self

    def forward(self,
                inputs: torch.Tensor,
                data_samples: Optional[list] = None,
                mode: str = 'tensor'):
        """``loss`` distils; ``predict`` and ``tensor`` use the student."""
        if mode == 'loss':
            return self.loss(inputs, data_samples)
        if mode == 'predict':
            return self.student.predict(inputs, data_samples)
        if mode == 'tensor':
            return self.student(inputs, mode='tensor')
        raise RuntimeError(f'Invalid mode "{mode}".')

    def loss(self, inputs: torch.Tensor,
             data_samples: list) -> Dict[str, torch.Tensor]:
        """One distillation step on a batch of ``N`` samples.

        Args:
            inputs (Tensor): ``(N, C, H, W)`` normalised images.
            data_samples (list[DataSample]): Their labels.

        Returns:
            dict[str, Tensor]: The weighted losses.
        """
        labels = torch.cat([sample.gt_label for sample in data_samples])
        sample_indices = (
            self._sample_indices(data_samples, inputs.device)
            if self._needs['sample_indices'] else None)
        if self.uses_unix and self.data_preprocessor.needs_compute_cost:
            self._apply_compute_budget(inputs.shape)
        if self.uses_unix:
            batch = self.data_preprocessor.mix_and_select(
                inputs, labels, self.score_forward(inputs))
            scoring = inputs.size(0)
        else:
            batch = MixedBatch.clean(inputs, labels)
            scoring = 0
        kept = batch.inputs.size(0)
        self.hard_positions = batch.hard_positions
        self.sample_counts = dict(
            batch=inputs.size(0),
            student_scoring=scoring,
            teacher=kept,
            student_train=kept)
        return self.distill(batch, sample_indices)

    def _sample_indices(self, data_samples: list,
                        device: torch.device) -> torch.Tensor:
        """``(N,)`` dataset indices of the batch's samples."""
        if not all('sample_idx' in sample for sample in data_samples):
            key = next(key for _, loss, _, key in self.distill_losses()
                       if getattr(loss, 'uses_sample_indices', False))
            raise ValueError(
                f"{key} needs each sample's dataset index, but the data "
                "samples carry no 'sample_idx': keep 'sample_idx' in the "
                'meta_keys of PackInputs in train_dataloader.dataset.pipeline '
                '(mmpretrain keeps it by default) and use a dataset that sets '
                'it, as every MMEngine BaseDataset does')
        indices = torch.tensor([sample.sample_idx for sample in data_samples])
        if device.type == 'cuda':
            # Pinned, so that the copy does not make the host wait.
            return indices.pin_memory().to(device, non_blocking=True)
        return indices.to(device)

    def flops_per_sample(self, input_shape) -> Tuple[int, int]:
        """fvcore's ``(F_t, F_s)``: one sample's forward flops through the
        teacher and the student in eval mode, for ``(C, H, W)`` inputs."""
        input_shape = tuple(int(size) for size in input_shape)
        if input_shape not in self._flops_per_sample:
            self._flops_per_sample[input_shape] = tuple(
                measure_complexity(model, input_shape)[1]
                for model in (self.teacher, self.student))
        return self._flops_per_sample[input_shape]

    def connector_flops_per_sample(self, input_shape) -> int:
        """fvcore's ``F_c``: one sample's forward flops through the trainable
        parts of the losses (connectors, regressors, embedding heads), which
        train with the student, for ``(C, H, W)`` inputs.

        The losses run on copies, in eval mode, on the outputs of a zero batch
        of two samples (relational losses need a pair), so nothing of the model
        changes; only their submodules with parameters count.
        """
        input_shape = tuple(int(size) for size in input_shape)
        key = ('connectors', input_shape)
        if key not in self._flops_per_sample:
            self._flops_per_sample[key] = self._measure_connectors(input_shape)
        return self._flops_per_sample[key]

    def _measure_connectors(self, input_shape) -> int:
        trained = [(loss, kind) for _, loss, kind, _ in self.distill_losses()
                   if any(True for _ in loss.parameters())]
        if not trained:
            return 0
        device = next(self.student.parameters()).device
        inputs = torch.zeros(2, *input_shape, device=device)
        extra = dict(
            labels=torch.zeros(2, dtype=torch.long, device=device),
            sample_indices=torch.arange(2, device=device))
        # A loss may draw random numbers (CRD's negatives): measuring must
        # not shift the run's random stream.
        rng_devices = [device] if device.type == 'cuda' else []
        total = 0
        with torch.random.fork_rng(rng_devices), torch.no_grad():
            with eval_mode(self.student), eval_mode(self.teacher):
                outputs = [
                    classify(model, inputs, self._needs['kinds'])
                    for model in (self.student, self.teacher)
                ]
            for loss, kind in trained:
                loss = copy.deepcopy(loss).eval()
                wanted = {
                    name: value
                    for name, value in extra.items()
                    if getattr(loss, f'uses_{name}', False)
                }
                # Modules that hold parameters themselves, at any depth (a
                # connector in a ModuleList, say), each call counted once.
                holders = [
                    module for module in loss.modules()
                    if module is not loss and any(
                        True for _ in module.parameters(recurse=False))
                ]
                total += measure_called_flops(
                    holders,
                    lambda: loss(outputs[0][kind], outputs[1][kind], **wanted))
        return total // 2

    def compute_cost(self, input_shape, backward_factor: float = 1.0):
        """The :class:`ComputeCost` of this teacher, student and losses for
        ``(C, H, W)`` inputs."""
        return ComputeCost(
            *self.flops_per_sample(input_shape),
            backward_factor=backward_factor,
            connector_flops=self.connector_flops_per_sample(input_shape))

    def _apply_compute_budget(self, batch_shape) -> None:
        cost = self.compute_cost(batch_shape[1:])
        fraction = self.data_preprocessor.apply_compute_budget(cost)
        batch_size = batch_shape[0]
        MMLogger.get_current_instance().info(
            f'compute_budget={self.data_preprocessor.compute_budget}: '
            f'F_t={cost.teacher_flops / 1e6:.1f}M, '
            f'F_s={cost.student_flops / 1e6:.1f}M flops per sample, so '
            f'UNIX keeps k/N={fraction:.4f} of each batch (k='
            f'{self.data_preprocessor.count(fraction, batch_size)} of '
            f'{batch_size})')

    @torch.no_grad()
    def score_forward(self, inputs: torch.Tensor) -> torch.Tensor:
        """Step 1: ``(N, num_classes)`` student logits for scoring.

        The student stays in train mode, so BatchNorm running statistics update
        as in any training forward; no graph is kept.
        """
        return self.student(inputs, mode='tensor')

    def distill(self,
                batch: MixedBatch,
                sample_indices: Optional[torch.Tensor] = None
                ) -> Dict[str, torch.Tensor]:
        """Step 7: the losses on the samples of ``batch``.

        Args:
            batch (MixedBatch): The ``k`` samples to distil on.
            sample_indices (Tensor, optional): ``(N,)`` dataset indices of
                the batch before selection; needed by the losses that
                declare ``uses_sample_indices``.
        """
        kinds = self._needs['kinds']
        # Teacher first: its no-grad activations are freed before the
        # student's graph is built, which lowers peak memory (on CPUs the
        # allocator otherwise returns and re-faults pages every iteration).
        with torch.no_grad():
            teacher = classify(self.teacher, batch.inputs, kinds)
        student = classify(self.student, batch.inputs, kinds)

        losses = {}
        if _active(self.ce_loss):
            targets = batch.soft_targets(student.logits.size(1))
            losses['loss_ce'] = self.ce_loss(
                student.logits, targets, avg_factor=targets.size(0))
        for name, loss, kind, _ in self.distill_losses():
            extra = {}
            if getattr(loss, 'uses_labels', False):
                extra['labels'] = batch.labels_a
            if getattr(loss, 'uses_sample_indices', False):
                positions = batch.base_positions
                extra['sample_indices'] = (
                    sample_indices
                    if positions is None else sample_indices[positions])
            losses[name] = loss(student[kind], teacher[kind], **extra)
        return losses


def _active(loss: Optional[nn.Module]) -> bool:
    return loss is not None and getattr(loss, 'loss_weight', 1.0) != 0


def _describe(classifier: nn.Module) -> str:
    """``'CifarResNet backbone'``, or the classifier's type without one."""
    backbone = getattr(classifier, 'backbone', None)
    if isinstance(backbone, nn.Module):
        return f'{type(backbone).__name__} backbone'
    return type(classifier).__name__


def teacher_mismatch(teacher_state: dict, checkpoint) -> str:
    """Why ``checkpoint`` does not load strictly into a teacher with
    ``teacher_state``, in one line that ends with the fix; empty if it does.

    A checkpoint of a distillation run, whose keys start with ``student.`` and
    ``teacher.``, is named as such: its key lists alone would not tell the user
    that the teacher is inside it.
    """
    state = checkpoint
    if isinstance(checkpoint, dict):
        state = checkpoint.get('state_dict', checkpoint)
    if not isinstance(state, dict):
        return (f'it holds a {type(state).__name__}, not a state dict; '
                'pass a checkpoint saved by an mmunix or mmpretrain run of '
                'the teacher')
    state = checkpoint_state_dict(state)
    fix = ('point model.teacher_ckpt at the checkpoint of a teacher of this '
           'architecture and number of classes')
    if not any(key.startswith(DISTILLER_PREFIXES) for key in state) or any(
            key.startswith(DISTILLER_PREFIXES) for key in teacher_state):
        problem = describe_mismatch(teacher_state, state)
        return problem and (
            f'{problem}; {fix} (a community checkpoint: convert it with '
            'tools/model_converters/community_to_mmunix.py)')
    counts = [
        sum(key.startswith(prefix) for key in state)
        for prefix in DISTILLER_PREFIXES
    ]
    intro = (f'it is the checkpoint of a distillation run ({counts[0]} '
             f'tensors under student.*, {counts[1] or "none"} under '
             'teacher.*), not of a teacher')
    teacher = {
        key[len('teacher.'):]: value
        for key, value in state.items() if key.startswith('teacher.')
    }
    if not teacher:
        return f'{intro}; {fix}'
    problem = describe_mismatch(teacher_state, teacher)
    if problem:
        return (f'{intro}, and its teacher.* tensors do not fit '
                f'model.teacher either: {problem}; {fix}')
    return (f"{intro}; point model.teacher_ckpt at the teacher's own "
            'checkpoint, or extract the teacher.* tensors, which fit '
            'model.teacher, into a checkpoint of their own without the '
            "'teacher.' prefix (docs/faq.md shows how)")
