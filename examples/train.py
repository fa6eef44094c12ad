"""A small tracked training script: logistic regression in numpy, configured by a Scope and
tracked in ./experiments.db (the embedded default).

Run by `make demo`:  python train.py [views...] [key=value...] | manual
"""

import numpy as np

from ato.db_routers.sql.manager import SQLLogger
from ato.scope import Scope

scope = Scope()


@scope.observe(default=True)
def defaults(config):
    config.seed = 0
    config.lr = 0.1
    config.epochs = 20
    config.batch_size = 32
    config.model = 'logistic'
    config.data = {'n_samples': 2000, 'n_features': 20, 'noise': 0.5}
    config.experiment = {'project_name': 'demo'}


@scope.observe(priority=1)
def high_lr(config):
    config.lr = 0.5


@scope.observe(priority=2)
def long_training(config):
    config.epochs = 60


@scope.observe(lazy=True)
def scale_lr(config):
    # Linear scaling rule, evaluated after the command line.
    config.lr = config.lr * config.batch_size / 32


@scope.manual
def docs(config):
    config.lr = 'Learning rate of plain SGD'
    config.batch_size = 'Samples per SGD step'
    config.epochs = 'Passes over the training set'


def make_data(config, rng):
    x = rng.normal(size=(config.data.n_samples, config.data.n_features))
    w = rng.normal(size=config.data.n_features)
    y = (x @ w + config.data.noise * rng.normal(size=len(x)) > 0).astype(float)
    return x, y


def sigmoid(z):
    return 1 / (1 + np.exp(-z))


@scope.runtime_trace(trace_id='predictions', inspect_fn=lambda p: p[:100])
def predict(x, w):
    return sigmoid(x @ w)


@scope.trace(trace_id='train_epoch')
def train_epoch(x, y, w, config, rng):
    order = rng.permutation(len(x))
    for start in range(0, len(x), config.batch_size):
        batch = order[start:start + config.batch_size]
        p = sigmoid(x[batch] @ w)
        w -= config.lr * x[batch].T @ (p - y[batch]) / len(batch)
    p = predict(x, w)
    loss = -np.mean(y * np.log(p + 1e-12) + (1 - y) * np.log(1 - p + 1e-12))
    return loss, np.mean((p > 0.5) == y)


@scope
def main(config):
    logger = SQLLogger(config)
    run_id = logger.run(tags=[config.model, f"lr={config.lr}"])
    try:
        rng = np.random.default_rng(config.seed)
        x, y = make_data(config, rng)
        w = np.zeros(x.shape[1])
        for epoch in range(config.epochs):
            loss, acc = train_epoch(x, y, w, config, rng)
            logger.log_metric('loss', loss, epoch)
            logger.log_metric('accuracy', acc, epoch)
        logger.finish(status='completed')
    except BaseException:
        logger.finish(status='failed')
        raise
    print(f"run {run_id}: final loss={loss:.4f} accuracy={acc:.3f}")
    history = scope.provenance('lr')
    chain = " -> ".join(f"{step.step} ({step.kind})" for step, _ in history.changes)
    print(f"lr={config.lr} was set by: {chain}")


if __name__ == '__main__':
    main()
