"""The bottom of the package graph: what every other package may import.

- :mod:`common.errors` - the user-facing error types (one ``ConfigError`` for bad configuration).
- :mod:`common.config` - the base of every job configuration (pydantic, validated, saved as JSON
  next to the job's output).
- :mod:`common.jsonsafe` - one conversion of numpy/pandas/datetime values into JSON values.
- :mod:`common.files` - atomic writes (a reader never sees half a file).

It imports nothing of ours.
"""
