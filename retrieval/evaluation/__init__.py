"""Stage 5, measuring: `newsbot eval` over dated news questions — retrieval recall against the
web search's own ranking, and answer quality — with resumable per-question results.
"""

from retrieval.evaluation.harness import Evaluation, Report, markdown_table, write_outputs

__all__ = ["Evaluation", "Report", "markdown_table", "write_outputs"]
