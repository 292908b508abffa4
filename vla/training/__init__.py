"""The training library: the loop (Trainer), optimiser and schedule, run setup, config checks.

It trains any torch module with `compute_loss(batch)` and `save_pretrained(dir)` on any loader; it
knows no env and no policy. The train app (vla/apps/train.py) builds those and hands them in.
"""
