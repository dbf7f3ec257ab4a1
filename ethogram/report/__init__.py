"""Reports: tables, plots and trajectory pictures of runs."""
