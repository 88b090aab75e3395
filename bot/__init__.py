"""newsbot's front-ends: the command line, the REPL and the Slack app. They render Answers."""
