"""巡检: inspection rounds — routes of checkpoints walked on a schedule, faults found becoming repair tickets."""
