"""The upload service's routes: one Blueprint ``bp`` per module, registered in ``app``."""
