/**
 * Line-level diff counts (added, removed) between two texts: the minimal edit script (Myers), as unified diffs
 * report it. Used when opencode does not report a file's diff itself (the write tool overwriting a file).
 */
export interface LineCounts {
  readonly added: number
  readonly removed: number
}

/** Past this many differences the middle is counted as fully replaced, keeping the cost bounded. */
const MAX_EDIT_DISTANCE = 4_000

export const splitLines = (text: string): Array<string> => {
  if (text === "") return []
  const lines = text.split("\n")
  if (lines.at(-1) === "") lines.pop()
  return lines
}

export const lineDiff = (before: string, after: string): LineCounts => {
  const a = splitLines(before)
  const b = splitLines(after)
  // Common prefix and suffix cost nothing and make the typical edit tiny.
  let start = 0
  while (start < a.length && start < b.length && a[start] === b[start]) start++
  let endA = a.length
  let endB = b.length
  while (endA > start && endB > start && a[endA - 1] === b[endB - 1]) {
    endA--
    endB--
  }
  const n = endA - start
  const m = endB - start
  if (n === 0 || m === 0) return { added: m, removed: n }
  const d = editDistance(a, start, n, b, start, m)
  if (d === undefined) return { added: m, removed: n }
  // d = added + removed, m - n = added - removed.
  return { added: (d + m - n) / 2, removed: (d - m + n) / 2 }
}

/** Myers' O((N+M)D) shortest edit script length over a[offA, offA+n) and b[offB, offB+m). */
const editDistance = (a: Array<string>, offA: number, n: number, b: Array<string>, offB: number, m: number): number | undefined => {
  const max = Math.min(n + m, MAX_EDIT_DISTANCE)
  const v = new Int32Array(2 * max + 2)
  const at = (k: number) => k + max + 1
  for (let d = 0; d <= max; d++) {
    for (let k = -d; k <= d; k += 2) {
      let x = k === -d || (k !== d && v[at(k - 1)]! < v[at(k + 1)]!) ? v[at(k + 1)]! : v[at(k - 1)]! + 1
      let y = x - k
      while (x < n && y < m && a[offA + x] === b[offB + y]) {
        x++
        y++
      }
      v[at(k)] = x
      if (x >= n && y >= m) return d
    }
  }
  return undefined
}
