"""Named experiments and what they leave in the runs folder."""
