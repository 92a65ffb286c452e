from .classification_distiller import ClassificationDistiller

__all__ = ['ClassificationDistiller']
