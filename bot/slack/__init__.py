"""The Slack front-end: `build_app`/`run` in app.py, the handlers in listeners.py, Block Kit in
ui.py, settings read from the environment only when `SlackSettings.from_env()` is called."""
