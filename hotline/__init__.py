"""hotline: NLP incident processing for Chinese 12345 citizen hotlines."""

__version__ = "0.1.0"
