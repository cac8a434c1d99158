"""Curation: the alignment judge, the caption filters, regeneration and fallback, and the mix specs."""
