"""Liveness: face-mesh landmarks, eye aspect ratio, head pose, challenge–response, passive anti-spoof.

Nothing here loads a model on import; ``MeshLandmarker`` and ``AntiSpoofModel.load`` do so when
built (through ``facegate.app.bootstrap.Container``).
"""
