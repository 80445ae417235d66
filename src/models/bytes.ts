// Sizes for people, in decimal units as the hub shows them ("1.92 GB"): the catalogue picker, the
// download's progress and the disk-space check all speak the same units.
export function humanBytes(n: number): string {
  if (n >= 1e9) return `${(n / 1e9).toFixed(2)} GB`;
  if (n >= 1e6) return `${(n / 1e6).toFixed(n >= 1e8 ? 0 : 1)} MB`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(0)} kB`;
  return `${Math.round(n)} bytes`;
}
