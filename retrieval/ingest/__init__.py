"""Stage 1, reading news: files, folders, feeds and URLs become `Article`s, and articles become
`Chunk`s that fit the embedder's window. Nothing here touches a model or the store, so a loader
can be tried on a file with no index at all; a bad input becomes a named failure, never a crash.
"""
