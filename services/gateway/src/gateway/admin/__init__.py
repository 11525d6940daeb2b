"""The operators' side of the gateway: ``/v1/admin/*`` (operator and admin roles) and the
dashboard at ``/admin``."""
