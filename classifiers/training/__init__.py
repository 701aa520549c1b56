"""Building the trained model: reading labelled data, fitting, scoring and saving it.

Only ``triage train`` and ``triage evaluate`` use this package; serving needs just
``classifiers.trained``.
"""

from classifiers.training.dataset import ColumnMapping, DatasetError, Example, read_labelled
from classifiers.training.evaluation import choose_thresholds, format_report, score
from classifiers.training.pipeline import TrainResult, build_model, fit, save, split, train
from classifiers.training.sources import council, load_shared

__all__ = [
    "ColumnMapping",
    "DatasetError",
    "Example",
    "TrainResult",
    "build_model",
    "choose_thresholds",
    "council",
    "fit",
    "format_report",
    "load_shared",
    "read_labelled",
    "save",
    "score",
    "split",
    "train",
]
