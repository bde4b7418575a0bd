"""The ``intake`` command: serve, worker, chat, config, nlu, user and resident commands.

Each command reads the settings once (:func:`bot.config.load_settings`) and passes them
down. A configuration mistake anywhere ends the command with one line, exit status 2.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from bot.config import Settings, load_settings, read_settings
from core.errors import ConfigurationError, IntakeError

__all__ = ["main"]


def _configure_logging(level: str) -> None:
    from bot.logs import configure_logging

    configure_logging(level)


def _settings_or_exit(**overrides: object) -> Settings:
    """The settings (``overrides`` by setting name), or exit with the one-line reason."""
    try:
        return load_settings(**overrides)
    except ConfigurationError as exc:
        _configuration_error(exc)
        raise SystemExit(2) from None


def _configuration_error(exc: ConfigurationError) -> None:
    print(f"intake: configuration error: {exc}", file=sys.stderr)


def _print_dev_banner(settings: Settings) -> None:
    if settings.production:
        return
    lines = [
        f"intake (development) on http://{settings.server.host}:{settings.server.port}",
        f"  storage: {settings.effective_database_url}"
        + (f", state in Redis {settings.redis_url}" if settings.redis_url else ", state in memory"),
    ]
    # Only what was generated: a secret the operator configured is theirs and must not end
    # up in a terminal scroll-back or a log collector.
    shown = [
        (name, settings.value_of(name))
        for name in _PRINTED_DEV_SECRETS
        if name in settings.generated_secrets
    ]
    if shown:
        lines.append(
            f"  generated development secrets, kept in {settings.data_dir / 'dev-secrets.json'}:"
        )
        lines.extend(f"    {variable}={value}" for variable, value in shown)
    print("\n".join(lines), flush=True)


#: generated development secrets worth printing (the app secret only serves the local fake)
_PRINTED_DEV_SECRETS = ("WECHAT_TOKEN", "WECHAT_APP_ID", "INTAKE_ADMIN_TOKEN")


def _print_demo_admin(settings: Settings) -> None:
    """On a development machine with no console account yet, create ``admin`` and print its
    password once (it is stored only as a hash)."""
    if settings.production:
        return
    import asyncio

    from integrations.accounts.bootstrap import DEMO_ADMIN, ensure_demo_admin

    password = asyncio.run(ensure_demo_admin(settings.effective_database_url))
    base = f"http://{settings.server.host}:{settings.server.port}"
    if password:
        print(
            f"  console {base}/console: user {DEMO_ADMIN}, password {password} "
            "(shown only this once; `intake user add` makes more accounts)",
            flush=True,
        )
    else:
        print(f"  console {base}/console", flush=True)
    print(f"  try the bot as a resident: {base}/simulator", flush=True)


def cmd_user(args: argparse.Namespace) -> int:
    import asyncio

    from integrations.accounts import AccountError
    from integrations.accounts.bootstrap import add_user, list_users, manage_user

    settings = _settings_or_exit()
    url = settings.effective_database_url
    try:
        if args.user_command == "list":
            for user in asyncio.run(list_users(url)):
                state = "active" if user.active else "disabled"
                if user.reset_pending:
                    state += ", reset pending"
                print(f"{user.username}\t{user.role}\t{state}\t{user.display_name}")
            return 0
        if args.user_command != "add":
            user, code = asyncio.run(
                manage_user(
                    url,
                    settings.redis_url,
                    args.user_command,
                    args.username,
                    role=getattr(args, "role", None),
                )
            )
            if code is None:
                print(
                    f"{args.user_command}: {user.username} ({user.role}, "
                    f"{'active' if user.active else 'disabled'})"
                )
            else:
                print(
                    f"reset: {user.username}: password and sessions ended; one-time code "
                    f"(valid 24 h, shown once): {code}"
                )
                print(f"  the user opens <console address>/console/reset#{code}")
            return 0
        password = sys.stdin.readline().rstrip("\n") if args.password_stdin else None
        user, password = asyncio.run(
            add_user(url, args.username, role=args.role, password=password, display_name=args.name)
        )
    except AccountError as exc:
        print(f"intake: {exc}", file=sys.stderr)
        return 1
    print(f"created {user.role} {user.username}")
    if not args.password_stdin:
        print(f"password: {password}")
    return 0


def cmd_resident(args: argparse.Namespace) -> int:
    """``intake resident purge OPENID [--tickets]``: forget what a resident said."""
    import asyncio

    from integrations.accounts import AuditLog
    from integrations.accounts.bootstrap import CLI_ACTOR
    from integrations.db import create_engine
    from integrations.retention import purge_resident
    from integrations.state import create_store
    from privacy import mask_openid

    settings = _settings_or_exit()

    async def run() -> str:
        engine = create_engine(settings.effective_database_url)
        store = create_store(settings.redis_url)
        try:
            purged = await purge_resident(engine, store, args.openid, tickets=args.tickets)
            summary = (
                f"chat removed from {purged.ticket_chats} tickets, {purged.handoff_lines} "
                f"handoff lines and {purged.review_items} review items deleted"
                + (f", {purged.tickets_erased} tickets erased" if args.tickets else "")
            )
            await AuditLog(engine).record(
                CLI_ACTOR,
                "resident.purge",
                f"resident:{mask_openid(args.openid)}",
                detail=summary,
            )
            return summary
        finally:
            await store.close()
            await engine.dispose()

    print(f"purged {mask_openid(args.openid)}: {asyncio.run(run())}")
    if not settings.redis_url:
        print("  (no REDIS_URL: a running server's in-memory chat memory expires within 7 days)")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from core.settings import export_for_child_processes

    overrides: dict[str, object] = {}
    if args.host:
        overrides["INTAKE_HOST"] = args.host
    if args.port:
        overrides["INTAKE_PORT"] = args.port
    if args.no_worker:
        overrides["INTAKE_INPROCESS_WORKER"] = False
        export_for_child_processes(INTAKE_INPROCESS_WORKER="false")  # --workers N processes
    settings = _settings_or_exit(**overrides)
    _configure_logging(settings.log_level)
    from bot.logs import logging_config

    # uvicorn applies its log configuration in every web process it starts: ours, so its
    # own lines and tracebacks are masked like everything else.
    log_config = logging_config(settings.log_level)
    _print_dev_banner(settings)
    _print_demo_admin(settings)
    if args.workers > 1:
        # Each web process builds its own app from the same environment; the parent hands
        # each connection to the process with the fewest (bot/balancer.py).
        from bot.balancer import serve_balanced

        serve_balanced(
            host=settings.server.host,
            port=settings.server.port,
            workers=args.workers,
            log_level=settings.log_level.lower(),
            log_config=log_config,
            access_log=False,
            proxy_headers=False,  # the app trusts proxies itself (INTAKE_TRUSTED_PROXIES)
        )
        return 0
    from bot.app import create_app

    uvicorn.run(
        create_app(settings),
        host=settings.server.host,
        port=settings.server.port,
        log_level=settings.log_level.lower(),
        log_config=log_config,
        access_log=False,
        proxy_headers=False,  # the app trusts proxies itself (INTAKE_TRUSTED_PROXIES)
    )
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    import asyncio
    import signal

    from bot.periodic import heartbeat
    from integrations.dispatch.worker import run_worker

    settings = _settings_or_exit()
    _configure_logging(settings.log_level)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        beat = None
        if settings.outbox.heartbeat_file is not None:
            beat = asyncio.create_task(heartbeat(settings.outbox.heartbeat_file, stop))
        try:
            await run_worker(settings, stop)
        finally:
            stop.set()
            if beat is not None:
                await beat

    asyncio.run(main())
    return 0


def cmd_chat(args: argparse.Namespace) -> int:
    import asyncio

    from bot.chat import run_chat

    settings = _settings_or_exit()
    _configure_logging("WARNING")
    return asyncio.run(run_chat(settings, openid=args.openid))


def cmd_nlu(args: argparse.Namespace) -> int:
    from nlu import cli as nlu_cli
    from nlu.features import set_cache_dir

    # The model folder the app uses (INTAKE_MODEL_DIR, else <INTAKE_DATA_DIR>/models);
    # the secrets the app needs are not needed here.
    settings = read_settings()
    set_cache_dir(settings.nlu.jieba_cache_dir)
    if args.model_dir is None:
        args.model_dir = str(settings.model_dir)
    if args.nlu_command == "train":
        return nlu_cli.train_main(args)
    if args.nlu_command == "evaluate":
        return nlu_cli.evaluate_main(args)
    return nlu_cli.parse_main(sys.stdin, sys.stdout, args)


def cmd_config(args: argparse.Namespace) -> int:
    """``intake config check [--production]`` and ``intake config table``."""
    if args.config_command == "table":
        from core.settings_doc import markdown_table

        print(markdown_table())
        return 0
    from bot.config_check import check_configuration, print_check

    settings = read_settings()
    result = check_configuration(settings, production=args.production or settings.production)
    print_check(result, sys.stdout)
    return 0 if result.ok else 1
def cmd_analytics(args: argparse.Namespace) -> int:
    from bot.analytics_cli import cmd_analytics as run

    _configure_logging("WARNING")
    return run(args, _settings_or_exit())


def cmd_tickets(args: argparse.Namespace) -> int:
    from bot.analytics_cli import cmd_tickets as run

    _configure_logging("WARNING")
    return run(args, _settings_or_exit())


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="intake", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the web app (WeChat callback, API)")
    serve.add_argument("--host", help="bind address (INTAKE_HOST)")
    serve.add_argument("--port", type=int, help="port (INTAKE_PORT)")
    serve.add_argument("--workers", type=int, default=1, help="web worker processes")
    serve.add_argument(
        "--no-worker",
        action="store_true",
        help="do not run the outbox worker in-process (run `intake worker` separately)",
    )
    serve.set_defaults(func=cmd_serve)

    worker = sub.add_parser(
        "worker", help="deliver tickets to the dispatch system and push status changes"
    )
    worker.set_defaults(func=cmd_worker)

    user = sub.add_parser("user", help="console accounts")
    user_sub = user.add_subparsers(dest="user_command", required=True)
    add = user_sub.add_parser("add", help="create a staff or admin account")
    add.add_argument("username")
    add.add_argument("--role", choices=("staff", "admin"), default="staff")
    add.add_argument("--name", help="name shown in the console (default: the username)")
    add.add_argument(
        "--password-stdin",
        action="store_true",
        help="read the password from stdin (default: generate one and print it)",
    )
    add.set_defaults(func=cmd_user)
    user_sub.add_parser("list", help="list accounts").set_defaults(func=cmd_user)
    for name, text in (
        ("disable", "disable an account (its sessions end at once)"),
        ("enable", "enable a disabled account"),
        ("reset", "end the password and sessions; print a one-time code to set a new one"),
    ):
        command = user_sub.add_parser(name, help=text)
        command.add_argument("username")
        command.set_defaults(func=cmd_user)
    role = user_sub.add_parser("role", help="change an account's role")
    role.add_argument("username")
    role.add_argument("role", choices=("staff", "admin"))
    role.set_defaults(func=cmd_user)

    resident = sub.add_parser("resident", help="residents' personal data")
    resident_sub = resident.add_subparsers(dest="resident_command", required=True)
    purge = resident_sub.add_parser(
        "purge", help="delete a resident's chat text everywhere (a request under PIPL)"
    )
    purge.add_argument("openid")
    purge.add_argument(
        "--tickets",
        action="store_true",
        help="also erase the phone, location and words of the resident's tickets",
    )
    purge.set_defaults(func=cmd_resident)

    config = sub.add_parser("config", help="the configuration (environment variables)")
    config_sub = config.add_subparsers(dest="config_command", required=True)
    check = config_sub.add_parser(
        "check",
        help="print the effective configuration (secrets masked) and what would stop a start; "
        "exit status 1 when something would",
    )
    check.add_argument(
        "--production",
        action="store_true",
        help="judge as INTAKE_ENV=production would (the default when it is set)",
    )
    config_sub.add_parser("table", help="print the README's table of settings (Markdown)")
    config.set_defaults(func=cmd_config)
    from bot.analytics_cli import add_analytics_parser, add_tickets_parser

    add_analytics_parser(sub, cmd_analytics)
    add_tickets_parser(sub, cmd_tickets)

    chat = sub.add_parser("chat", help="talk to the bot in the terminal as a resident")
    chat.add_argument("--openid", default="o-terminal-resident", help="resident id to chat as")
    chat.set_defaults(func=cmd_chat)

    from nlu import cli as nlu_cli

    nlu = sub.add_parser("nlu", help="train, evaluate and try the language model")
    nlu_sub = nlu.add_subparsers(dest="nlu_command", required=True)
    nlu_cli.add_train_arguments(nlu_sub.add_parser("train", help="train and publish a model"))
    nlu_cli.add_evaluate_arguments(
        nlu_sub.add_parser("evaluate", help="cross-validate and/or evaluate on a labelled TSV")
    )
    nlu_cli.add_parse_arguments(
        nlu_sub.add_parser("parse", help="one message per stdin line → one JSON line (Rasa format)")
    )
    nlu.set_defaults(func=cmd_nlu)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        result: int = args.func(args)
    except ConfigurationError as exc:
        # Found past reading the settings (a missing database driver, an Open311 map).
        _configuration_error(exc)
        return 2
    except IntakeError as exc:
        # A known failure (the database unreachable at start-up): its message, no traceback.
        print(f"intake: {exc}", file=sys.stderr)
        return 1
    return result


if __name__ == "__main__":
    raise SystemExit(main())
