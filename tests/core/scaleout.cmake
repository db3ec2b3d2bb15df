# Sweep grids and the Slurm side that needs no cluster (scripts, records, parsing scontrol/sacct).
# The test against a real Slurm is tests/slurm (label slurm).
sp_add_qtest(test_sweep_grid SOURCES test_sweep_grid.cpp LABELS core)
