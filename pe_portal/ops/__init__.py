"""Operations: health, backup/restore, statistics, cleanup, metrics."""
