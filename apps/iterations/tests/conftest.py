from apps.dashboards.tests.conftest import client_for, dataset, make_iteration

__all__ = ["client_for", "dataset", "make_iteration"]
