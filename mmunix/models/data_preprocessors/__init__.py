from .batch_random_crop_flip import BatchRandomCropFlip
from .device_cls_data_preprocessor import DeviceClsDataPreprocessor
from .unix_data_preprocessor import (UNIX_ONLY_KEYS, MixedBatch,
                                     UNIXDataPreprocessor,
                                     kd_preprocessor_config)

__all__ = [
    'BatchRandomCropFlip', 'DeviceClsDataPreprocessor', 'MixedBatch',
    'UNIXDataPreprocessor', 'UNIX_ONLY_KEYS', 'kd_preprocessor_config'
]
