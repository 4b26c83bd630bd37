// Numbers and durations as the commands print them.

/** A fraction as a percentage with `d` decimals, without the sign: 0.1234 -> '12.34'. */
export function pct(x: number, d = 2): string {
  return (100 * x).toFixed(d);
}

/** A duration in words: '12.3 s', '4 min 5 s', '1 h 2 min'. */
export function formatDuration(seconds: number): string {
  if (seconds < 59.95) return `${seconds.toFixed(1)} s`;
  const total = Math.round(seconds);
  const m = Math.floor(total / 60);
  return m < 60 ? `${m} min ${total % 60} s` : `${Math.floor(m / 60)} h ${m % 60} min`;
}
