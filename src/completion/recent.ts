// Maps kept in order of use, most recent last, with at most a fixed number of entries: the
// completion code remembers a few things per recently used document (split points, windows,
// document versions) and per recent place (suggestions), and forgets the oldest first.

/** Sets `key` to `value` as the most recent entry of `map`, forgetting the oldest beyond `max`. */
export function setRecent<K, V>(map: Map<K, V>, key: K, value: V, max: number): void {
  map.delete(key);
  map.set(key, value);
  while (map.size > max) map.delete(map.keys().next().value as K);
}
