"""The errors weir shows operators.

    WeirError
    ├── InvalidInput   the request itself is wrong (a field out of range, a malformed id)   → 422
    ├── Unauthorized   the token it was made with is no longer in force                    → 401
    ├── NotFound       it names a service or instance weir does not know                   → 404
    ├── Conflict       it contradicts the current state (duplicate id, a change that would
    │                  leave a service without live weight)                                 → 409
    └── StoreError     the ledger could not be read or written                              → 503

Every message names the field or object at fault; the API and CLI print it as is, never a
traceback.
"""


class WeirError(Exception):
    status = 500

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class InvalidInput(WeirError):
    status = 422


class Unauthorized(WeirError):
    status = 401


class NotFound(WeirError):
    status = 404


class Conflict(WeirError):
    status = 409


class StoreError(WeirError):
    status = 503
