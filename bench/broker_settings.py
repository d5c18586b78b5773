"""crossline's settings with the task broker `bench/task_brokers.py` measures (BENCH_BROKER).

`orm` (crossline's own: the ORM broker on crossline's MongoDB engine), `orm-stock` (the ORM
broker on django-mongodb-backend's engine as shipped: compare-and-set as `update_many`) or
`mongo` (django-q2's MongoDB broker: its own collection, `find_one_and_update`).
"""

import os

from crossline.settings import *  # noqa: F403
from crossline.settings import DATABASES, MONGODB_URI, Q_CLUSTER

BROKER = os.environ.get("BENCH_BROKER", "orm")
if BROKER == "orm-stock":
    DATABASES["default"]["ENGINE"] = "django_mongodb_backend"
elif BROKER == "mongo":
    Q_CLUSTER = {key: value for key, value in Q_CLUSTER.items() if key != "orm"}
    Q_CLUSTER.update(mongo={"host": MONGODB_URI}, mongo_db=DATABASES["default"]["NAME"])
elif BROKER != "orm":
    raise ValueError(f"BENCH_BROKER={BROKER!r}: use orm, orm-stock or mongo")
