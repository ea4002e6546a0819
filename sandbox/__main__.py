"""`python -m sandbox`, what `make run` starts: `roost run`, unchanged, when Slack settings
are present (in the environment or .env); else the sandbox (sandbox.run), where nothing
reaches Slack or X."""

import sys
import warnings

warnings.filterwarnings("ignore", "pkg_resources is deprecated as an API", UserWarning)

from bot import cli  # noqa: E402  (after the filter: bot's imports raise the warning)
from bot.errors import SettingsError  # noqa: E402
from bot.settings import load_settings  # noqa: E402


def main() -> int:
    try:
        settings = load_settings()
    except SettingsError:
        return cli.main(["run"])  # which says what is wrong with them
    if settings.has_slack:
        return cli.main(["run"])
    # Only the sandbox loads the fakes.
    from sandbox.run import run_sandbox

    return run_sandbox(settings.roost_var_dir)


sys.exit(main())
