"""The ``cogaze`` command line. Each verb group lives in the module of its concept and is added here.

Errors meant for users (:class:`~cogaze.errors.CogazeError`) are printed without a traceback and
exit with status 1.
"""

from __future__ import annotations

import sys

import click

from cogaze import __version__
from cogaze.errors import CogazeError
from cogaze.logs import configure


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="cogaze")
@click.option("-v", "--verbose", is_flag=True, help="Log debug messages (also an option of the long-running verbs).")
@click.option("-q", "--quiet", is_flag=True, help="Only warnings, errors and results, no progress (also per verb).")
def cli(verbose: bool, quiet: bool) -> None:
    """cogaze: context- and gaze-guided vision-language pretraining for chest X-rays."""
    if verbose and quiet:
        raise click.UsageError("give --quiet or --verbose, not both")
    if not click.get_current_context().meta.get("cogaze_verbosity"):  # a verb's own -q/-v (parsed first) wins
        configure(-1 if quiet else 1 if verbose else 0)


def _register() -> None:
    """Add every verb group to the root command (imports stay light: heavy modules load lazily)."""
    from cogaze.commands.ablate import ablate
    from cogaze.commands.backbone import backbone
    from cogaze.commands.data import data
    from cogaze.commands.demo import demo
    from cogaze.commands.downstream import downstream
    from cogaze.commands.evaluate import evaluate
    from cogaze.commands.explain import explain
    from cogaze.commands.gaze import gaze
    from cogaze.commands.label import label
    from cogaze.commands.official import import_official
    from cogaze.commands.phantom import phantom
    from cogaze.commands.predict import predict
    from cogaze.commands.pretrain import pretrain
    from cogaze.commands.reports import generate, train_report
    from cogaze.commands.serve import serve
    from cogaze.commands.tasks import finetune, retrieve, zeroshot
    from cogaze.commands.tokenizer import tokenizer

    data.add_command(downstream)
    data.add_command(phantom)
    cli.add_command(ablate)
    cli.add_command(backbone)
    cli.add_command(data)
    cli.add_command(demo)
    cli.add_command(explain)
    cli.add_command(gaze)
    cli.add_command(predict)
    cli.add_command(pretrain)
    cli.add_command(evaluate)
    cli.add_command(label)
    cli.add_command(import_official)
    cli.add_command(serve)
    cli.add_command(tokenizer)
    for command in (zeroshot, retrieve, finetune, train_report, generate):
        cli.add_command(command)


_register()


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``cogaze`` script."""
    try:
        cli.main(args=argv, prog_name="cogaze", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        return 130
    except click.ClickException as err:
        err.show()
        return err.exit_code
    except CogazeError as err:
        click.echo(f"error: {err}", err=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
