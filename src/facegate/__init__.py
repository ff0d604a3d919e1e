"""FaceGate: self-hosted face authentication and access control.

The public, stable surface is small: see :mod:`facegate.api_public`.
Nothing here loads a model, opens a database or reads the environment on import.
"""

__version__ = "0.1.0"
