/// A fixed-size ring of points, one per time bucket of `step` seconds, keyed by the bucket's
/// number (`floor(t / step)`), so a bucket nothing was recorded in stays empty rather than being
/// filled by a neighbour. Each point is three bytes (CPU, memory, disk; 0–100 or `empty`).
///
/// Invariant: every slot inside the window (`newest - count` exclusive to `newest`) holds its
/// own bucket's point or `empty`; `newest` stays within `±maxBucket`, so no arithmetic on it
/// can overflow.
struct MetricRing: Sendable, Equatable {
    /// The byte that means "no data" for a series in a bucket.
    static let empty: UInt8 = 0xFF
    static let series = 3
    /// The largest absolute time in seconds a bucket can stand for (about 31 million years).
    static let maxSeconds: Int64 = 1_000_000_000_000_000

    let step: Int64
    let count: Int
    /// `count` × 3 bytes: the point of bucket `b` lives at `(b mod count) × 3`.
    private(set) var bytes: [UInt8]
    /// The newest bucket written; nil before the first.
    private(set) var newest: Int64?

    init(step: Int64, count: Int) {
        self.step = step
        self.count = count
        bytes = Array(repeating: Self.empty, count: count * Self.series)
    }

    /// A ring read back from storage; nil unless `bytes` is the right size, every byte is a
    /// percentage or `empty`, `newest` is a bucket `write` could have made, and a ring never
    /// written holds nothing.
    init?(step: Int64, count: Int, bytes: ArraySlice<UInt8>, newest: Int64?) {
        guard bytes.count == count * Self.series, bytes.allSatisfy({ $0 <= 100 || $0 == Self.empty }) else { return nil }
        if let newest {
            let limit = Self.maxSeconds / step + 1
            guard newest >= -limit && newest <= limit else { return nil }
        } else if bytes.contains(where: { $0 != Self.empty }) {
            return nil
        }
        self.step = step
        self.count = count
        self.bytes = Array(bytes)
        self.newest = newest
    }

    /// The bucket holding `seconds` (which the caller keeps within `±maxSeconds`).
    func bucket(of seconds: Int64) -> Int64 {
        seconds >= 0 ? seconds / step : (seconds - step + 1) / step
    }

    private func offset(_ bucket: Int64) -> Int {
        Int(((bucket % Int64(count)) + Int64(count)) % Int64(count)) * Self.series
    }

    /// Whether `bucket` is still held (not older than the ring's window behind `newest`).
    func holds(_ bucket: Int64) -> Bool {
        guard let newest else { return false }
        return bucket <= newest && bucket > newest - Int64(count)
    }

    /// Writes a point (three bytes, each 0–100 or `empty`) into `bucket`. Moving past `newest`
    /// empties the buckets skipped, so a gap stays a gap. A bucket older than the whole window
    /// means the clock went back that far: the ring starts again from it, rather than refusing
    /// every sample until the clock catches up with the time it once showed.
    mutating func write(_ point: [UInt8], bucket: Int64) {
        if let newest, bucket > newest {
            advance(to: bucket)
        } else if !holds(bucket) {
            for index in bytes.indices { bytes[index] = Self.empty }
            newest = bucket
        }
        let at = offset(bucket)
        for s in 0..<Self.series { bytes[at + s] = point[s] }
    }

    /// Moves `newest` forward to `bucket`, emptying the buckets it passes.
    private mutating func advance(to bucket: Int64) {
        guard let newest else {
            self.newest = bucket
            return
        }
        guard bucket > newest else { return }
        let skipped = min(bucket - newest, Int64(count))
        for b in (bucket - skipped + 1)...bucket {
            let at = offset(b)
            for s in 0..<Self.series { bytes[at + s] = Self.empty }
        }
        self.newest = bucket
    }

    /// One series' value in `bucket`: `empty` when the bucket is not held.
    func value(_ bucket: Int64, series: Int) -> UInt8 {
        holds(bucket) ? bytes[offset(bucket) + series] : Self.empty
    }
}
