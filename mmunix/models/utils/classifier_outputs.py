"""What one forward of a classifier gives the distillation losses.

A distillation loss says which output of the student and the teacher it
compares with the class attribute ``distill_input``:

- ``'logits'``: the ``(N, num_classes)`` scores, from the classifier's own
  ``forward(inputs, mode='tensor')``, so any mmpretrain classifier works
  (``ImageClassifier``, ``TimmClassifier``, ``HuggingFaceClassifier``...).
- ``'embedding'``: the ``(N, D)`` features the head classifies, its
  ``pre_logits`` (after the neck's pooling).
- ``'stages'``: the tuple of stage features the backbone returns, each
  ``(N, C_i, H_i, W_i)`` (set ``out_indices`` on the backbone).

Embeddings and stages need a classifier built as backbone, optional neck and
head, as mmpretrain's ``ImageClassifier`` is.
"""
from dataclasses import dataclass
from typing import Optional, Tuple

import torch
from mmpretrain.models.heads import LinearClsHead
from torch import nn

LOGITS = 'logits'
EMBEDDING = 'embedding'
STAGES = 'stages'
#: The outputs a loss may ask for with ``distill_input``.
DISTILL_INPUTS = (LOGITS, EMBEDDING, STAGES)


@dataclass
class ClassifierOutputs:
    """The outputs of one forward, the unrequested ones ``None``.

    Attributes:
        logits (Tensor): ``(N, num_classes)`` class scores.
        embedding (Tensor, optional): ``(N, D)`` features before the last
            linear layer of the head.
        stages (tuple[Tensor], optional): The backbone's stage features,
            each ``(N, C_i, H_i, W_i)``.
    """
    logits: torch.Tensor
    embedding: Optional[torch.Tensor] = None
    stages: Optional[Tuple[torch.Tensor, ...]] = None

    def __getitem__(self, kind: str):
        return getattr(self, kind)


def exposes_features(classifier: nn.Module) -> bool:
    """Whether ``classifier`` is a backbone, optional neck and head, whose
    stage features and embedding :func:`classify` can read."""
    return all(
        hasattr(classifier, name)
        for name in ('backbone', 'head', 'with_neck')) and hasattr(
            classifier.head, 'pre_logits')


def classify(classifier: nn.Module, inputs: torch.Tensor,
             kinds=frozenset()) -> ClassifierOutputs:
    """One forward of ``classifier`` on ``(N, C, H, W)`` ``inputs``.

    Args:
        classifier (nn.Module): An mmpretrain classifier.
        inputs (Tensor): ``(N, C, H, W)`` normalised images.
        kinds (Collection[str]): Outputs wanted besides the logits:
            ``'embedding'``, ``'stages'``. Each needs
            :func:`exposes_features`.

    Returns:
        ClassifierOutputs: The logits and the outputs in ``kinds``.
    """
    if not {EMBEDDING, STAGES} & set(kinds):
        return ClassifierOutputs(classifier(inputs, mode='tensor'))
    # The backbone runs once for the features and the logits alike, as in
    # ImageClassifier's own forward.
    stages = classifier.backbone(inputs)
    neck_out = classifier.neck(stages) if classifier.with_neck else stages
    head, embedding = classifier.head, None
    if EMBEDDING in kinds:
        embedding = head.pre_logits(neck_out)
    if embedding is not None and type(head).forward is LinearClsHead.forward:
        # The embedding is exactly what LinearClsHead classifies: score it
        # rather than run pre_logits again (which may hold layers).
        logits = head.fc(embedding)
    else:
        logits = head(neck_out)
    return ClassifierOutputs(
        logits=logits,
        embedding=embedding,
        stages=stages if STAGES in kinds else None)
