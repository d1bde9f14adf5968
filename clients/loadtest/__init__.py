"""`dgx-music loadtest`: drive a gateway (or Triton directly) with many calls at once and report what it held.

`stats` turns each call's timings into a run's figures and checks them against an SLO; `report` writes those figures
as text, JSON, HTML or PNG."""
