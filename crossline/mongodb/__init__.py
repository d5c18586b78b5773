"""crossline's MongoDB engine: django-mongodb-backend, with single-document writes sent as such.

A compare-and-set pins one document by its id and adds the state it expects
(`filter(pk=…, status=…).update(…)`); django-mongodb-backend sends any filter but a bare id as
`update_many`, and deletes always as `delete_many`. MongoDB's retryable writes (the driver
retries a write once when the primary steps down, and the server applies it once) cover
single-document writes only: sent as `update_one`/`delete_one`, every compare-and-set,
heartbeat and broker acknowledgement survives a replica-set failover instead of failing
half-way through an import or a run. The filter, and so what is written, is unchanged.
"""
