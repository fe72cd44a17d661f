"""Latent Workbench: train, capture and analyse latent-reasoning language models."""

__version__ = "0.1.0"
