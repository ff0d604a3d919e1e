"""FaceGate: self-hosted face authentication and access control.

The package is layered (docs/architecture.md): ``facegate.core`` (domain, vision, matching,
store, liveness engine), ``facegate.features`` (one package per feature), ``facegate.research``
(evaluation, training) and ``facegate.app`` (wiring: ``create_app``, the ``facegate`` CLI).
Nothing here loads a model, opens a database or reads the environment on import.
"""

__version__ = "0.1.0"
