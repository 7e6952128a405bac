"""Build tooling: turning models into other models (base-model conversion, ONNX export).

Nothing at inference time imports this package.
"""
