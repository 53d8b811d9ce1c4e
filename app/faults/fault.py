"""The kinds of storage fault, and what an operator reads (and how soon to retry) for each."""

# kind -> what the operator reads in the 503 and the log.
DETAILS = {
    "disk_full": "The database's disk is full: free space on it. Nothing was written.",
    "read_only": "The database's storage is read-only: make it writable. Nothing was written.",
    "locked": "The database stayed locked by another writer past the lock timeout: find what "
              "holds it. Nothing was written.",
    "damaged": "The database file is damaged: stop the service, run `flask --app wsgi "
               "check-db`, and restore from a backup.",
    "io_error": "The database's storage reports an I/O error: check the disk. Nothing was "
                "written.",
    "unreachable": "The database cannot be reached: check that it is running and reachable.",
    "overloaded": "The database is out of resources (connections or memory): try again later.",
    "folder_missing": "The database's folder {folder} does not exist (deleted, or never made): "
                      "restore it and the database file from a backup, then restart the "
                      "service. Nothing was written.",
    "file_missing": "The database file {path} was deleted while the service ran: restore it "
                    "from a backup, then restart the service. Nothing was written.",
}
RETRY_AFTER_SECONDS = {"locked": 1, "unreachable": 2}


class _Names(dict):
    def __missing__(self, key: str) -> str:
        return "(named in the log)"


class StorageFault(Exception):
    def __init__(self, kind: str, cause: str = "", **names):
        # A fault rebuilt from its kind alone (a worker reading the shared episode) has no
        # names: the log line of the episode's start has them.
        detail = DETAILS[kind].format_map(_Names(names))
        super().__init__(detail)
        self.kind, self.detail, self.cause = kind, detail, cause

    @property
    def retry_after(self) -> int:
        return RETRY_AFTER_SECONDS.get(self.kind, 5)
