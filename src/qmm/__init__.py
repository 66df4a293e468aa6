"""QMM Workbench: make a drug-manufacturing site's quality maturity visible and defensible."""

__version__ = "0.1.0"
