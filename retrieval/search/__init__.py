"""Stage 3, finding articles: the question's time window, the candidates each half of the
hybrid search returns (dense and BM25), and their fusion into ranked articles. It reads the
index and never writes it; no LLM is involved.
"""
