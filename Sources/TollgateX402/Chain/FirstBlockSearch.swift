/// The first block whose timestamp is at or after a time, found from the times of a few blocks the caller reads
/// (`nextProbe`, then `record`): where the search for a spend's log starts. No I/O, so the bound on reads and the
/// answer at every step can be tested without a node.
///
/// The answer is never later than the true first block: a block known to be before the time bounds it from below, and
/// when the reads run out the search answers the block after the latest such block, however far from the time it is.
/// A later answer would skip the log it exists to find; an earlier one only costs windows of `eth_getLogs`.
struct FirstBlockSearch: Sendable, Hashable {
    /// A block and its timestamp (Unix seconds).
    struct Point: Sendable, Hashable {
        let block: Int64
        let time: Int64
    }

    let target: Int64
    let head: Point
    /// The latest block known to be before `target`; nil while none is.
    private(set) var before: Point?
    /// The earliest block known to be at or after `target`; nil when the head itself is before it.
    private(set) var atOrAfter: Point?
    private(set) var reads = 0
    let maxReads: Int
    /// Whether the last probe interpolated and left more than half of the bracket: the next one bisects, so a chain whose
    /// block times vary (or a node that lies about them) still costs no more than twice a bisection's reads.
    private var bisectNext = false

    /// - Parameters:
    ///   - head: the block every read is bounded by, with its time.
    ///   - target: the time (Unix seconds) looked for.
    ///   - maxReads: blocks read at most.
    init(head: Point, target: Int64, maxReads: Int) {
        self.head = head
        self.target = target
        self.maxReads = maxReads
        if head.time < target {
            before = head
        } else {
            atOrAfter = head
        }
    }

    /// The first block at or after `target`, or an earlier one when the reads ran out; `head.block + 1` (nothing to
    /// search) when the head is before it.
    var firstBlock: Int64 { before.map { $0.block + 1 } ?? 0 }

    /// The block to read next; nil once the answer is exact or the reads are spent.
    var nextProbe: Int64? {
        guard reads < maxReads, let after = atOrAfter, after.block > (before?.block ?? -1) + 1 else { return nil }
        guard let before else {
            // Nothing known before the target yet: step back from the earliest block known after it, by the distance
            // its time says (at the pace of the blocks read so far, one a second at first) and a quarter more, and at
            // least as far as the blocks already covered, so that even a chain much faster than its pace is passed in
            // a few doublings.
            let seconds = Double(after.time - target)
            let pace = after.block < head.block && head.time > after.time
                ? Double(head.block - after.block) / Double(head.time - after.time) : 1
            let covered = Double(head.block - after.block)
            let step = max(seconds * pace * 1.25 + 1, covered)
            return max(0, after.block - Int64(min(step, Double(after.block))))
        }
        let low = before.block + 1, high = after.block - 1
        if bisectNext { return low + (high - low) / 2 }
        // Block times are nearly regular: where the target falls between the two known times, rounded up (the first
        // block at or after it), kept strictly inside the bracket.
        let fraction = Double(target - before.time) / Double(after.time - before.time)
        let guess = before.block + Int64((fraction * Double(after.block - before.block)).rounded(.up))
        return min(max(guess, low), high)
    }

    /// What reading `block` answered: its timestamp.
    mutating func record(_ block: Int64, time: Int64) {
        reads += 1
        let gap = (atOrAfter?.block ?? head.block) - (before?.block ?? -1)
        let interpolated = before != nil && !bisectNext
        if time >= target {
            if block < atOrAfter?.block ?? Int64.max { atOrAfter = Point(block: block, time: time) }
        } else if block > before?.block ?? -1 {
            before = Point(block: block, time: time)
        }
        let left = (atOrAfter?.block ?? head.block) - (before?.block ?? -1)
        bisectNext = interpolated && left * 2 > gap
    }
}
