from .unix_data_preprocessor import MixedBatch, UNIXDataPreprocessor

__all__ = ['MixedBatch', 'UNIXDataPreprocessor']
