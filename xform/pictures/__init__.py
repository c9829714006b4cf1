"""Pictures of what the transformations do: evaluation trace tables (`trace_table`)."""
from xform.pictures.table import Row, Step, TraceTable, trace_table

__all__ = ["Row", "Step", "TraceTable", "trace_table"]
