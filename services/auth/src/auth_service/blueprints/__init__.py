"""HTTP resources of the auth service, one blueprint module each."""
