"""Training FaceGate's own Siamese face verifier on LFW (optional extra ``train``: PyTorch CPU).

Only the modules that need it import torch (``model``, ``trainer``, ``export``), and only when a
``facegate train`` command runs; ``data`` and ``metrics`` are plain numpy so the server never pulls
torch in.
"""
