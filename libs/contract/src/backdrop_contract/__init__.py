"""Words of the Backdrop API that both sides of it import: the services (through
``backdrop_common``) and the client. Dependency-free, so the client stays light."""

from backdrop_contract.states import STATUSES, TERMINAL, UNFINISHED

__all__ = ["STATUSES", "TERMINAL", "UNFINISHED"]
