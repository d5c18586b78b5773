"""crossline's MongoDB engine: writes that pin one document go as single-document writes,
which a replica set retries after a failover; the rest as before."""

from datetime import timedelta

import pytest
from bson import ObjectId
from django.utils import timezone
from django_q.models import OrmQ
from django_q.tasks import async_task
from pymongo.collection import Collection

from crossline.mongodb.compiler import pins_one_document


def test_a_filter_pins_one_document_by_its_id_alone_or_within_and():
    oid = ObjectId()
    assert pins_one_document({"_id": oid})
    assert pins_one_document({"$and": [{"_id": oid}, {"status": "queued"}]})
    assert not pins_one_document({"_id": {"$in": [oid]}})
    assert not pins_one_document({"$or": [{"_id": oid}, {"status": "queued"}]})
    assert not pins_one_document({"status": "queued"})


@pytest.fixture
def writes(monkeypatch) -> list[str]:
    """The pymongo write methods called, in order."""
    called: list[str] = []
    for name in ("update_one", "update_many", "delete_one", "delete_many"):
        real = getattr(Collection, name)

        def spy(self, *args, _real=real, _name=name, **kwargs):
            called.append(_name)
            return _real(self, *args, **kwargs)

        monkeypatch.setattr(Collection, name, spy)
    return called


@pytest.mark.django_db
@pytest.mark.mongodb_only(reason="the engine is crossline's MongoDB database engine")
def test_a_compare_and_set_by_id_is_one_single_document_update(writes):
    async_task("crossline.tasks.ping")
    row = OrmQ.objects.get()
    later = timezone.now() + timedelta(hours=1)
    assert OrmQ.objects.filter(pk=row.pk, lock=row.lock).update(lock=later) == 1
    assert OrmQ.objects.filter(pk=row.pk, lock=row.lock).update(lock=later) == 0  # it moved on
    assert writes == ["update_one", "update_one"]
    writes.clear()
    assert OrmQ.objects.filter(lock__lte=later).update(lock=timezone.now()) == 1
    assert writes == ["update_many"]


@pytest.mark.django_db
@pytest.mark.mongodb_only(reason="the engine is crossline's MongoDB database engine")
def test_a_delete_by_id_is_one_single_document_delete(writes):
    for _ in range(3):
        async_task("crossline.tasks.ping")
    rows = list(OrmQ.objects.order_by("lock"))
    assert OrmQ.objects.filter(pk=rows[0].pk).delete()[0] == 1
    assert OrmQ.objects.filter(pk=rows[0].pk).delete()[0] == 0
    assert writes == ["delete_one", "delete_one"]
    writes.clear()
    assert OrmQ.objects.filter(pk__in=[r.pk for r in rows[1:]]).delete()[0] == 2
    assert writes == ["delete_many"]
