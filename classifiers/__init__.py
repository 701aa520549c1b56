"""Text in, Verdict out: the trained model, detoxify, rules and the council's policy.

Pure and synchronous; nothing here talks to Kafka. Start with :func:`load`::

    classifier = classifiers.load(settings)
    verdicts = classifier.classify(["The bins on my road were missed again"])
"""

from classifiers.api import (
    Classifier,
    ClassifierError,
    ClassifierSettings,
    ProbabilityModel,
    ToxicityScorer,
    load,
)
from classifiers.normalise import clean, normalise
from classifiers.policy import ClassificationPolicy, load_policy
from records.policy import PolicyError

__all__ = [
    "ClassificationPolicy",
    "Classifier",
    "ClassifierError",
    "ClassifierSettings",
    "PolicyError",
    "ProbabilityModel",
    "ToxicityScorer",
    "clean",
    "load",
    "load_policy",
    "normalise",
]
