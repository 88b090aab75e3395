import subprocess
import sys

import retrieval


def test_public_api_is_pinned() -> None:
    assert sorted(retrieval.__all__) == [
        "ABSTAIN_TEXT",
        "Answer",
        "Article",
        "ArticleHit",
        "BackendError",
        "Citation",
        "ConfigError",
        "EmptyIndexError",
        "Filters",
        "HISTORY_TURNS",
        "IngestReport",
        "LoadError",
        "MAX_QUESTION_CHARS",
        "NewsDesk",
        "NewsRetriever",
        "NewsbotError",
        "OnStage",
        "Passage",
        "QuestionError",
        "SearchResult",
        "Settings",
        "Stage",
        "Turn",
        "answer_runnable",
        "checked_question",
        "env_float",
        "env_int",
        "load_dotenv_once",
        "user_date",
    ]
    for name in retrieval.__all__:
        assert getattr(retrieval, name) is not None


def test_importing_the_api_loads_no_heavy_library() -> None:
    """`newsbot --help` and every front-end start fast: models and LangChain load when used."""
    code = (
        "import sys, retrieval; "
        "heavy = [m for m in ('langchain_core', 'torch', 'sentence_transformers', 'chromadb', 'llama_cpp') if m in sys.modules]; "
        "print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
