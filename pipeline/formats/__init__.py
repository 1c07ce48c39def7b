"""The files that pass between stages, one module per file: its layout, its writer, its reader.

A stage imports these, never another stage, to read what an earlier stage wrote:
`manifest` (manifest.csv), `findings` (findings.csv, ingest_findings.csv), `accepted`
(accepted.csv), `crops` (the crops' and the augmented copies' index.csv, failures.csv),
`encoding` (encoding.json, the attribute encoding), `shards` (the tar shards, index.json and the
one resize), `metrics` (metrics/<stage>.json, the headlines DVC compares, and their details);
`common` holds what they share. docs/ARCHITECTURE.md describes each file.
"""
