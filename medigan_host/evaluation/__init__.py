"""Evaluation of generated images: FID, KID and precision/recall with pluggable feature extractors.

``metrics`` and ``stats`` need only NumPy; an extractor's framework is imported only when it is loaded.
See docs/evaluation.md.
"""

#: The extractor used when none is named: NumPy only, its weights ship with the host, so evaluation works offline.
DEFAULT_EXTRACTOR = "pcanet-phantoms"
