"""vla's Hydra launchers. Hydra instantiates launchers only from the `hydra_plugins` namespace package
(it scans it for Launcher classes), which is why this package lives at the repository's top level and
not under vla/: `hydra/launcher=slurm` and `slurm_local` (conf/hydra/launcher/) name classes here."""
