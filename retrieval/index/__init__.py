"""Stage 2, the index: the embedder, the Chroma store (the single ledger of every chunk, its
vector and metadata) and the BM25 index derived from it, plus the ingester that writes chunks
in idempotently. Everything that must move when a deployment moves to a Chroma server is here.
"""
