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
        "IngestReport",
        "LoadError",
        "NewsDesk",
        "NewsbotError",
        "Passage",
        "SearchResult",
        "Settings",
        "Turn",
    ]
