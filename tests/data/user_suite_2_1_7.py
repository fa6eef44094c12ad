"""A user's own unit tests, written against ato 2.1.7 (run by tests/test_seed_user_suite.py under
both Ato and the real 2.1.7, with unittest and with pytest)."""
import os
import tempfile
import unittest

from ato import xyz
from ato.adict import ADict
from ato.db_routers.sql.manager import SQLFinder, SQLLogger
from ato.hyperopt.hyperband import HyperBand
from ato.parser import parse_command
from ato.scope import Scope


class TestADict(unittest.TestCase):
    def test_helpers(self):
        d = ADict(a=1, b=ADict(c=2))
        self.assertEqual(d['a', 'b'], [1, {'c': 2}])
        d['x', 'y'] = 3, 4
        self.assertEqual((d.x, d.y), (3, 4))
        self.assertIs(d.update(z=5), d)
        d.update(b={'e': 6}, recurrent=True)
        self.assertEqual(d.b.to_dict(), {'c': 2, 'e': 6})
        self.assertEqual(d.raw('a').to_dict(), {'key': 'a', 'value': 1})
        self.assertEqual(d.get_structural_repr()['b.c'], 'int')
        self.assertFalse(d.frozen)
        auto = ADict.auto()
        auto.model.backbone.layers = [1, 2]
        self.assertEqual(auto.to_dict(), {'model': {'backbone': {'layers': [1, 2]}}})
        counted = ADict(default=0)
        counted['n'] += 1
        self.assertEqual(counted.n, 1)

    def test_files(self):
        with tempfile.TemporaryDirectory() as folder:
            path = os.path.join(folder, 'c.yaml')
            ADict(lr=0.1, layers=[1, 2]).dump(path)
            loaded = ADict()
            loaded.load(path)
            self.assertEqual(loaded.to_dict(), {'lr': 0.1, 'layers': [1, 2]})
            self.assertEqual(xyz.loads(ADict(lr=0.1, m=ADict(k=2)).to_xyz()), {'lr': 0.1, 'm': {'k': 2}})


class TestScope(unittest.TestCase):
    def setUp(self):
        Scope.initialize_registry()

    def test_assign_apply(self):
        scope = Scope(name='cfg')

        @scope.observe(default=True)
        def base(cfg):
            cfg.lr = 0.1
            cfg.model = 'resnet'

        @scope.observe()
        def big(cfg):
            cfg.model = 'vit'

        scope.assign(['big', 'lr=0.5'])
        scope.apply()
        self.assertEqual((scope.config.lr, scope.config.model), (0.5, 'vit'))
        self.assertIn('cfg', Scope.registry)

        @scope
        def train(cfg, epochs):
            return cfg.model, epochs

        self.assertEqual(train(3), ('vit', 3))

    def test_parser(self):
        self.assertEqual(parse_command('a=1 b=[1, 2] c=%x y%'), ['a=1', 'b=[1, 2]', 'c=%x y%'])


class TestHyperBand(unittest.TestCase):
    def test_search(self):
        Scope.initialize_registry()
        scope = Scope(config=ADict(lr=0.1))
        spaces = ADict(lr=ADict(param_type='FLOAT', param_range=(0.001, 0.1), num_samples=3, space_type='LOG'))
        hyperband = HyperBand(scope, spaces, 0.5, 1, None, 'max')
        self.assertEqual(hyperband.num_generations(), 2)
        self.assertEqual(hyperband.compute_optimized_initial_training_steps(100), [50, 100])

        @hyperband.main
        def objective(config):
            return -abs(config.lr - 0.01)

        result = objective()
        self.assertAlmostEqual(result.config.lr, 0.01, places=5)
        self.assertEqual(len(result.logs[0]), 3)


class TestTracking(unittest.TestCase):
    def test_log_and_find(self):
        with tempfile.TemporaryDirectory() as folder:
            config = ADict(experiment=ADict(project_name='p', sql=ADict(db_path=f'sqlite:///{folder}/e.db')), lr=0.1)
            logger = SQLLogger(config)
            project = logger.get_or_create_project()
            run_id = logger.run(tags=['a'])
            self.assertEqual(logger.get_current_run_id(), run_id)
            for step in range(3):
                logger.log_metric('loss', 1.0 / (step + 1), step)
            logger.finish(status='completed')
            run = logger.get_current_run()
            self.assertEqual(run.project_id, project.id)
            self.assertEqual([(m.key, m.step) for m in run.metrics], [('loss', 0), ('loss', 1), ('loss', 2)])
            self.assertEqual(len(run.metrics), 3)
            self.assertIsNotNone(run.end_time)
            self.assertEqual(run.status, 'completed')
            finder = SQLFinder(config)
            self.assertEqual(finder.find_run(run_id).project_id, project.id)
            self.assertEqual(finder.find_similar_runs(run_id=123), [])
            self.assertEqual(finder.find_best_run('p', 'loss', mode='min').id, run_id)
            stats = finder.get_trace_statistics('p', trace_id='step')
            self.assertEqual(stats['static_trace_versions'], 0)


if __name__ == '__main__':
    unittest.main()
