"""Stage 4, answering: the pipeline from a question (and its thread) to a checked `Answer`:
follow-up rewrite, search, the relevance gate, passages, the prompt, the LLM backends or the
extractive fallback, and the citation check. Article text is data here, never instructions.
"""
