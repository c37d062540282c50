"""Data stages: demo data sets, download and extraction, ingest, splits."""
