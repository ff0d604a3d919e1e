"""Evaluation protocols (LFW verification, …) built on ``vision`` and ``matching``."""
