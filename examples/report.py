"""What SQLFinder finds in the demo's database. Run by `make demo` after the training runs."""

from ato.db_routers.sql.manager import SQLFinder

finder = SQLFinder()  # ATO_DB, else ./experiments.db

for run in finder.get_runs_in_project('demo'):
    accuracy = run.metric_summaries['accuracy']
    print(f"run {run.id}: {run.status:9} lr={run.config.lr:<5} batch_size={run.config.batch_size:<3} "
          f"best accuracy={accuracy.max:.3f} ({accuracy.count} epochs)")

best = finder.find_best_run('demo', metric_key='accuracy', mode='max')
print(f"\nbest run by accuracy: {best.id} (lr={best.config.lr}, tags={best.tags})")
similar = finder.find_similar_runs(run_id=1)
print(f"runs with the same config structure as run 1: {[run.id for run in similar]}")
finder.close()
