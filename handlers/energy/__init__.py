"""节能降耗: meters, their readings, and energy per building (能耗)."""
