from .cifar import CIFAR100
from .digits import Digits

__all__ = ['CIFAR100', 'Digits']
