"""`python -m sandbox`, what `make run` starts: `roost run`, unchanged, when Slack settings
are present (in the environment or .env); else the sandbox (sandbox.run), where nothing
reaches Slack or X."""

import sys

from bot import cli
from bot.errors import SettingsError
from bot.settings import load_settings


def main() -> int:
    try:
        settings = load_settings()
    except SettingsError:
        return cli.main(["run"])  # which says what is wrong with them
    if settings.slack_bot_token or settings.slack_signing_secret or settings.slack_app_token:
        return cli.main(["run"])
    # Only the sandbox loads the fakes.
    from sandbox.run import run_sandbox

    return run_sandbox(settings.roost_var_dir)


sys.exit(main())
