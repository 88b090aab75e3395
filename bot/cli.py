"""The `newsbot` command. Heavy libraries load inside commands, so `newsbot --help` is instant."""

from __future__ import annotations

import datetime as dt
import json
import logging
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import click

if TYPE_CHECKING:
    from retrieval import NewsDesk, Settings

F = TypeVar("F", bound=Callable[..., Any])


def _date(ctx: click.Context, param: click.Parameter, value: str | None) -> dt.date | None:
    from retrieval import QuestionError, user_date

    try:
        return user_date(value, f"--{param.name}".replace("_", "-"))
    except QuestionError as e:
        raise click.BadParameter(str(e)) from None


def filter_options(as_of_help: str, prefix: str = "") -> Callable[[F], F]:
    """--as-of, --since, --until and --source, as ask, search and chat all take them."""

    def helped(name: str, text: str) -> str:
        full = prefix.format(name=name) + text
        return full[0].upper() + full[1:]

    def add(fn: F) -> F:
        for option in reversed([
            click.option("--as-of", callback=_date, help=as_of_help),
            click.option("--since", callback=_date, help=helped("since DATE", "only articles published on or after this date.")),
            click.option("--until", callback=_date, help=helped("until DATE", "only articles published on or before this date.")),
            click.option("--source", "sources", multiple=True, help=helped("source NAME", "only this outlet (repeatable).")),
        ]):
            fn = option(fn)
        return fn

    return add


def _settings(ctx: click.Context) -> "Settings":
    from retrieval import Settings

    return run_guarded(lambda: Settings.from_env(home=ctx.obj.get("home")))


def _desk(ctx: click.Context) -> "NewsDesk":
    from retrieval import NewsDesk

    return NewsDesk(_settings(ctx))


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--home", type=click.Path(file_okay=False), help="Data directory (default: $NEWSBOT_HOME or the user data dir).")
@click.option("-v", "--verbose", count=True, help="More logging (-v info, -vv debug).")
@click.version_option(package_name="newsbot")
@click.pass_context
def cli(ctx: click.Context, home: str | None, verbose: int) -> None:
    """Ask the news questions; get short answers with numbered sources."""
    level = [logging.WARNING, logging.INFO, logging.DEBUG][min(verbose, 2)]
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    for noisy in ("chromadb", "httpx", "sentence_transformers", "urllib3", "trafilatura", "htmldate"):
        logging.getLogger(noisy).setLevel(max(level, logging.WARNING))
    ctx.ensure_object(dict)
    ctx.obj["home"] = home
    ctx.obj["verbose"] = verbose


def run_guarded(fn: Any) -> Any:
    """Engine errors become one clear line on stderr, not a traceback."""
    from retrieval import NewsbotError

    try:
        return fn()
    except NewsbotError as e:
        raise click.ClickException(str(e)) from e


@cli.command()
@click.argument("inputs", nargs=-1, required=True)
@click.option("--source", default="", metavar="NAME", help="Outlet of articles whose input names none (e.g. seed-format files).")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@click.option("--progress/--no-progress", default=None, help="Progress bar (default: when stderr is a terminal).")
@click.pass_context
def ingest(ctx: click.Context, inputs: tuple[str, ...], source: str, as_json: bool, progress: bool | None) -> None:
    """Ingest files, folders (recursively), RSS/Atom feeds and URLs."""
    from tqdm import tqdm

    desk = _desk(ctx)
    show = sys.stderr.isatty() if progress is None else progress
    bar = tqdm(unit=" articles", disable=not show, file=sys.stderr, dynamic_ncols=True)

    def on_progress(articles: int, chunks: int) -> None:
        bar.update(articles - bar.n)
        bar.set_postfix(chunks=chunks, refresh=False)

    try:
        report = run_guarded(lambda: desk.ingest(inputs, progress=on_progress, source=source))
    finally:
        bar.close()  # ends the bar's line, so an error (a full disk, say) starts on its own
    for name, reason in report.failed:
        click.echo(f"failed: {name}: {reason}", err=True)
    if as_json:
        click.echo(json.dumps(report.to_dict(), indent=2))
    else:
        click.echo(
            f"articles: {report.new} new, {report.updated} updated, {report.unchanged} unchanged, "
            f"{report.duplicates} duplicate, {report.folded} folded into stories other outlets ran, "
            f"{len(report.failed)} failed; "
            f"{report.chunks} chunks stored ({report.embedded} embedded) in {report.seconds:.1f} s"
        )
    if report.failed:
        ctx.exit(1)


def _question(question: str) -> str:
    """The engine's own check, reported as a usage error before anything loads."""
    from retrieval import QuestionError, checked_question

    try:
        return checked_question(question)
    except QuestionError as e:
        raise click.UsageError(str(e)) from None


@cli.command()
@click.argument("question")
@filter_options("Answer as if today were this date (YYYY-MM-DD).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.pass_context
def ask(
    ctx: click.Context,
    question: str,
    as_of: dt.date | None,
    since: dt.date | None,
    until: dt.date | None,
    sources: tuple[str, ...],
    as_json: bool,
) -> None:
    """Answer QUESTION from the ingested news, citing numbered sources."""
    from bot.terminal.render import answer_json, answer_text

    question = _question(question)
    desk = _desk(ctx)
    if not as_json and sys.stdout.isatty():  # a terminal gets the same streamed rendering as `chat`
        from bot.terminal.render import StreamView, make_console

        from retrieval import NewsbotError

        with StreamView(make_console()) as view:
            try:
                for event in desk.stream(question, since=since, until=until, sources=sources, as_of=as_of):
                    view.feed(event) if isinstance(event, str) else view.finish(event)
            except NewsbotError as e:
                view.cancel("no answer")
                raise click.ClickException(str(e)) from e
        return
    answer = run_guarded(lambda: desk.answer(question, since=since, until=until, sources=sources, as_of=as_of))
    click.echo(answer_json(answer) if as_json else answer_text(answer))
    if answer.notice and not as_json:  # stdout keeps its plain format; the notice is for the person
        click.echo(f"note: {answer.notice}", err=True)


@cli.command()
@click.argument("query")
@click.option("-k", default=5, show_default=True, help="Articles to show.")
@filter_options("Rank as if today were this date (YYYY-MM-DD): its recent news gets a boost.")
@click.pass_context
def search(
    ctx: click.Context, query: str, k: int, as_of: dt.date | None, since: dt.date | None, until: dt.date | None, sources: tuple[str, ...]
) -> None:
    """Show the articles and passages hybrid search finds for QUERY."""
    query = _question(query)
    desk = _desk(ctx)
    result = run_guarded(lambda: desk.search(query, k, since=since, until=until, sources=sources, as_of=as_of))
    for i, hit in enumerate(result.articles, 1):
        date = hit.published.isoformat() if hit.published else "undated"
        click.echo(f"{i}. {hit.title} · {hit.source} · {date} · score {hit.score:.4f}")
        click.echo(f"   {hit.url}")
        best = hit.passages[0]
        click.echo(f"   {best.text[:300]}{'…' if len(best.text) > 300 else ''}")


@cli.command()
@click.pass_context
def fold(ctx: click.Context) -> None:
    """Fold syndicated copies already in the index into one story each (once, after upgrading)."""
    report = run_guarded(_desk(ctx).fold)
    click.echo(f"{report.folded} copies folded into the stories they repeat; {report.stories} stories indexed for folding")


@cli.command()
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def stats(ctx: click.Context, as_json: bool) -> None:
    """What the index holds: articles, chunks, date range, outlets."""
    desk = _desk(ctx)
    data = run_guarded(desk.stats)
    if as_json:
        click.echo(json.dumps(data, indent=2))
        return
    click.echo(f"store:    {data['store']}")
    click.echo(f"articles: {data['articles']:,} ({data['undated']:,} undated)")
    click.echo(f"chunks:   {data['chunks']:,}")
    click.echo(f"dates:    {data['earliest'] or '-'} … {data['latest'] or '-'}")
    for source, n in list(data["sources"].items())[:20]:
        click.echo(f"  {n:6,}  {source}")


@cli.command()
@click.option("--port", type=int, default=None, help="HTTP port for /slack/events (default: $PORT or 3000).")
@click.option("--host", default="0.0.0.0", show_default=True, help="HTTP address to listen on.")
@click.option("--socket-mode/--http", "socket_mode", default=None, help="Force a mode (default: Socket Mode when SLACK_APP_TOKEN is set).")
@click.option("--watch", is_flag=True, help="Also keep ingesting the subscribed feeds (`newsbot feeds`), in this process.")
@click.pass_context
def slack(ctx: click.Context, port: int | None, host: str, socket_mode: bool | None, watch: bool) -> None:
    """Run the Slack bot (tokens from SLACK_BOT_TOKEN, SLACK_SIGNING_SECRET, SLACK_APP_TOKEN)."""
    app = _front_end("bot.slack.app", "slack")
    from bot.feeds_cli import watching
    from bot.slack.settings import SlackSettings

    slack_settings = run_guarded(SlackSettings.from_env)
    desk = _desk(ctx)
    with watching(watch, lambda: desk):
        run_guarded(lambda: app.run(desk, slack_settings, port=port, host=host, socket_mode=socket_mode))


@cli.command()
@filter_options("Start with /asof DATE: answer as if today were this date.", prefix="Start with /{name}: ")
@click.option("--watch", is_flag=True, help="Also keep ingesting the subscribed feeds (`newsbot feeds`), in this process.")
@click.pass_context
def chat(
    ctx: click.Context, as_of: dt.date | None, since: dt.date | None, until: dt.date | None, sources: tuple[str, ...],
    watch: bool,
) -> None:
    """Talk to the news in a terminal: follow-ups keep the context; /help lists the commands."""
    from bot.feeds_cli import watching
    from bot.terminal.repl import run_chat
    from retrieval import Filters

    settings = _settings(ctx)
    if watch and not ctx.obj.get("verbose"):  # the watcher's lines would land in the middle of the prompt
        for name in ("retrieval.feeds", "retrieval.ingest"):
            logging.getLogger(name).setLevel(logging.ERROR)
    with watching(watch, lambda: _desk(ctx)):
        code = run_guarded(lambda: run_chat(settings, Filters(since, until, sources, as_of)))
    ctx.exit(code)


@cli.command("eval")
@click.option("--articles", type=click.Path(exists=True, dir_okay=False), required=True, help="Articles JSONL (url, source, title, authors, published, text).")
@click.option("--questions", type=click.Path(exists=True, dir_okay=False), required=True, help="Questions JSONL (RealTime QA format).")
@click.option("--mode", type=click.Choice(["retrieval", "answer"]), default="retrieval", show_default=True)
@click.option("--limit", type=int, help="Only the first N answerable questions.")
@click.option("--out", type=click.Path(file_okay=False), default="eval-out", show_default=True, help="Where the report, table, plot and per-question results go.")
@click.pass_context
def evaluate(ctx: click.Context, articles: str, questions: str, mode: str, limit: int | None, out: str) -> None:
    """Score retrieval (and answers) on dated news questions, beside the web search's ranking."""
    from pathlib import Path

    from tqdm import tqdm

    from retrieval.evaluation import Evaluation, markdown_table, write_outputs

    settings = _settings(ctx)
    evaluation = Evaluation(settings, Path(articles), Path(questions), Path(out), mode)
    show = sys.stderr.isatty()
    with tqdm(desc="index", unit=" articles", disable=not show, file=sys.stderr) as bar:
        index = run_guarded(lambda: evaluation.ensure_index(lambda n, _chunks: bar.update(n - bar.n)))
    click.echo("index: " + ("reused " if index.get("reused") else "built ") + str(evaluation.home), err=True)
    with tqdm(desc="questions", unit=" q", disable=not show, file=sys.stderr) as bar:

        def on_progress(done: int, total: int) -> None:
            bar.total = total
            bar.update(done - bar.n)

        report = run_guarded(lambda: evaluation.run(limit, progress=on_progress))
    paths = write_outputs(report, Path(out))
    click.echo(markdown_table(report))
    click.echo("\n" + "  ".join(f"{kind}: {path}" for kind, path in paths.items()), err=True)


@cli.command("mcp")
@click.pass_context
def mcp_command(ctx: click.Context) -> None:
    """Serve the news to AI assistants over MCP on stdio (tools: search_news, answer_news_question)."""
    _settings(ctx)  # a bad setting stops here with one clear line, not at the first tool call
    _front_end("bot.mcp_server", "mcp").run(lambda: _desk(ctx))


def _register_feed_commands() -> None:
    from bot.feeds_cli import add_feed_commands

    add_feed_commands(cli, _desk, run_guarded)


_register_feed_commands()

EXTRAS = {"slack": ("slack_bolt", "slack_sdk", "starlette", "uvicorn", "cachetools", "redis"), "mcp": ("mcp",)}  # extra -> the packages it brings


def _front_end(module: str, extra: str) -> Any:
    """A front-end whose libraries are an extra: missing, it is one line saying what to install."""
    import importlib

    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as e:
        if (e.name or "").split(".")[0] not in EXTRAS[extra]:
            raise
        raise click.ClickException(f'{e.name} is not installed: pip install "newsbot[{extra}]"') from e


def main() -> None:
    cli(obj={})


if __name__ == "__main__":
    main()
