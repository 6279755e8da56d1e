"""Image data sets for snnviz: embedded subsets, full MNIST/Fashion-MNIST/CIFAR-10, synthetic.

Nothing is downloaded or unpacked at import time.
"""

from snnviz.data.images import (
    CIFAR10_CLASSES,
    DATASETS,
    FASHION_MNIST_CLASSES,
    MNIST_CLASSES,
    DatasetError,
    ImageDataset,
    Splits,
    default_cache_dir,
    load_dataset,
    load_embedded,
    resolve_data_root,
    split_dataset,
)
from snnviz.data.synthetic import make_synthetic

__all__ = [
    "CIFAR10_CLASSES",
    "DATASETS",
    "FASHION_MNIST_CLASSES",
    "MNIST_CLASSES",
    "DatasetError",
    "ImageDataset",
    "Splits",
    "default_cache_dir",
    "load_dataset",
    "load_embedded",
    "make_synthetic",
    "resolve_data_root",
    "split_dataset",
]
