"""The terminal front-end: `newsbot chat` (repl.py) and the rendering `newsbot ask` shares with it."""
