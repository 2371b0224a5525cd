import pytest
from django.contrib.auth.models import User
from django.core.management import call_command

from apps.iterations.models import Iteration
from apps.projects.models import Project, Stage, TargetVersion

pytestmark = pytest.mark.django_db


def test_seed_demo_frames_both_projects_and_queues_training():
    call_command("seed_demo", "--no-wait")

    assert set(User.objects.values_list("username", flat=True)) >= {"alice", "sam", "dana", "admin"}
    triage = Project.objects.get(slug="breast-cancer-triage")
    assert triage.stage == Stage.IN_DEVELOPMENT
    agreed_by = TargetVersion.objects.get(project=triage).agreed_by
    assert agreed_by is not None
    assert agreed_by.username == "dana"
    assert Project.objects.get(slug="diabetes-progression").stage == Stage.FRAMING
    recipes = list(
        Iteration.objects.filter(project=triage).order_by("number").values_list("recipe", flat=True)
    )
    assert recipes == ["baseline", "one_feature_rule", "hist_gradient_boosting"]


def test_seed_demo_twice_creates_nothing_new():
    call_command("seed_demo", "--no-wait")
    counts = (Project.objects.count(), Iteration.objects.count(), User.objects.count())

    call_command("seed_demo", "--no-wait")

    assert (Project.objects.count(), Iteration.objects.count(), User.objects.count()) == counts
