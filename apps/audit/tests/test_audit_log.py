import pytest

from apps.audit.models import AuditEvent, AuditLogImmutable

pytestmark = pytest.mark.django_db


def test_audit_event_cannot_be_updated(project):
    event = AuditEvent.objects.filter(project=project).first()
    assert event is not None
    event.message = "rewritten"

    with pytest.raises(AuditLogImmutable):
        event.save()


def test_audit_events_cannot_be_deleted_or_bulk_updated(project):
    events = AuditEvent.objects.filter(project=project)

    with pytest.raises(AuditLogImmutable):
        events.update(message="rewritten")
    with pytest.raises(AuditLogImmutable):
        events.delete()
    first = events.first()
    assert first is not None
    with pytest.raises(AuditLogImmutable):
        first.delete()
    assert events.count() >= 1
