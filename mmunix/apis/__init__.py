from .model_index import MIM_ROOT, register_models

__all__ = ['MIM_ROOT', 'register_models']
