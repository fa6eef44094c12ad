"""The tracker's event loop: a start that fails is an error, not a hang; exit closes what is open."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import run_script


def test_a_loop_that_cannot_start_is_an_error_not_a_hang(tmp_path: Path) -> None:
    result = run_script(tmp_path, """
        import anyio.from_thread
        from ato.storage import loop

        real = loop.start_blocking_portal
        loop.start_blocking_portal = lambda backend, name: real("no-such-backend", name=name)
        try:
            loop.call(anyio.sleep, 0)
        except Exception as exc:
            print("refused:", type(exc).__name__)
    """, timeout=30)
    assert result.stdout.startswith("refused:")


def test_exit_closes_open_loggers_and_finders_without_hanging(tmp_path: Path) -> None:
    result = run_script(tmp_path, """
        from ato import SQLFinder, SQLLogger

        config = {'experiment': {'project_name': 'p'}}
        logger = SQLLogger(config)
        logger.run()
        logger.log_metric('loss', 0.5)
        logger.finish()
        logger.run()                      # left running, never closed
        logger.log_metric('loss', 0.25)
        finder = SQLFinder(config)        # left open
        print(len(finder.get_runs_in_project('p')))
    """, timeout=60)
    assert result.stdout.split() == ["2"] and "Traceback" not in result.stderr
    check = run_script(tmp_path, """
        from ato import SQLFinder
        with SQLFinder({'experiment': {'project_name': 'p'}}) as finder:
            print([list(finder.get_metrics(run.id, 'loss')) for run in finder.get_runs_in_project('p')])
    """)
    assert check.stdout.strip() == "[[(0, 0.5)], [(0, 0.25)]]"
