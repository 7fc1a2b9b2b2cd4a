"""The paper's tables and figures, one module per section (the science they draw on lives one level up).

- section4: Table 1, Figure 1, Figure 2 (RNG generalization), footnote 6 (temperature);
  the over-representation table of section 4.1 is `diffuse.metrics.overrepresentation`.
- section5: Tables 5 and 6, Figure 3 (leave-one-out generalization).
- section6: Tables 2, 4, 7 and 8, Figures 4, 5 (birth-place map, drawn by `diffuse.maps`) and 6.
- training: the training curves of section 3's Eq. 5 loss (and `diffuse.train` for the training table).
- tables: CSV and Markdown writing, metric names and the legend every metrics table carries.
"""
