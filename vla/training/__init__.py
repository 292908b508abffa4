"""Pieces of `vla train` and `vla eval`: config checks, optimisation, data order, policy building."""
