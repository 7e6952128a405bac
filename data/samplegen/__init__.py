"""The generator of hotline's synthetic sample data (``python data/make_samples.py``).

Everything it writes is invented: the city comes from ``data/gazetteer.json``, the complaint
texts from the templates and phrase banks in ``data/templates/`` and a seeded random generator.

- :mod:`~data.samplegen.settings` - the log's period, columns, categories and volumes;
- :mod:`~data.samplegen.templates` - the issues, incidents, phrase banks and terms (from JSON);
- :mod:`~data.samplegen.places` - places drawn from the gazetteer and phrased as callers do;
- :mod:`~data.samplegen.compose` - complaint texts from an issue and a place;
- :mod:`~data.samplegen.personal` - random personal data and export noise;
- :mod:`~data.samplegen.timing` - days, hours and reply times (weekly cycle, holidays, trend);
- :mod:`~data.samplegen.rows` - the rows of the log and the retraining example;
- :mod:`~data.samplegen.files` - the sample files and the jieba user dictionary as text.
"""
