import Testing
@testable import TollgateX402

/// Where the search for a spent nonce's log starts (`FirstBlockSearch`) and the windows it asks for (`LogWindows`),
/// without a node: chains of every pace, irregular block times, and the bounds on reads and calls.
@Suite struct ChainLogSearchTests {
    /// A deterministic source of chains (SplitMix64): the same cases on every run.
    struct Seeded: RandomNumberGenerator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }

    /// Runs the search against block times `time`, as the reader does; the block it answers and the blocks it read.
    static func search(head: Int64, target: Int64, maxReads: Int = 40, time: (Int64) -> Int64) -> (first: Int64, reads: Int) {
        var search = FirstBlockSearch(head: .init(block: head, time: time(head)), target: target, maxReads: maxReads)
        var reads = 0
        while let block = search.nextProbe {
            #expect((0...head).contains(block))
            search.record(block, time: time(block))
            reads += 1
        }
        return (search.firstBlock, reads)
    }

    /// The true first block at or after `target`, by reading every block's time.
    static func first(head: Int64, target: Int64, time: (Int64) -> Int64) -> Int64 {
        var low: Int64 = 0, high = head + 1
        while low < high {
            let middle = low + (high - low) / 2
            if time(middle) >= target { high = middle } else { low = middle + 1 }
        }
        return low
    }

    /// Regular chains of every pace (Ethereum's 12 s, Base's 2 s, Arbitrum's four blocks sharing a second) and every
    /// place of the target: the exact first block, in a few reads.
    @Test(arguments: [(Int64(12), Int64(1)), (2, 1), (1, 4), (1, 1)])
    func aRegularChainsFirstBlockIsExactInAFewReads(seconds: Int64, blocks: Int64) {
        let head: Int64 = 30_000_000, genesis: Int64 = 1_600_000_000
        let time = { (block: Int64) -> Int64 in genesis + block * seconds / blocks }
        let span = time(head) - genesis
        let agos: [Int64] = [0, 1, 2, 3, 59, 600, 3_600, 86_400 * 30, span - 1, span]
        for ago in agos {
            let target = time(head) - ago
            let (found, reads) = Self.search(head: head, target: target, time: time)
            #expect(found == Self.first(head: head, target: target, time: time), "\(seconds)s/\(blocks) \(ago)s ago")
            #expect(reads <= 12, "\(seconds)s/\(blocks) \(ago)s ago: \(reads) reads")
        }
    }

    /// Block times that wander (empty slots, bursts, blocks sharing a second): never a block later than the first, the
    /// exact one whenever the reads suffice, and never more reads than allowed.
    @Test func irregularBlockTimesNeverPutTheStartPastTheFirstBlock() {
        var random = Seeded(state: 402)
        for _ in 0..<100 {
            // Chains of a few thousand blocks: as many reads decide as on a long one, and the whole suite shares two cores.
            let head = Int64.random(in: 1...5_000, using: &random)
            var times: [Int64] = [Int64.random(in: 0...1_700_000_000, using: &random)]
            times.reserveCapacity(Int(head) + 1)
            let burst = Int64.random(in: 0...30, using: &random)
            for _ in 0..<head { times.append(times.last! + (Int64.random(in: 0...9, using: &random) == 0 ? burst : Int64.random(in: 0...3, using: &random))) }
            let time = { (block: Int64) in times[Int(block)] }
            let target = Int64.random(in: times[0] - 10...times[Int(head)] + 10, using: &random)
            let maxReads = Int.random(in: 1...40, using: &random)
            let (found, reads) = Self.search(head: head, target: target, maxReads: maxReads, time: time)
            let first = Self.first(head: head, target: target, time: time)
            #expect(found <= first)
            #expect(reads <= maxReads)
            if maxReads == 40 { #expect(found == first) }
        }
    }

    /// A node that lies about block times (out of order, in the future, zero) cannot make the search read forever.
    @Test func liedTimesEndTheSearchWithinItsReads() {
        var random = Seeded(state: 7)
        for _ in 0..<200 {
            let head = Int64.random(in: 1...50_000_000, using: &random)
            let (found, reads) = Self.search(head: head, target: 1_700_000_000) { _ in Int64.random(in: 0...3_400_000_000, using: &random) }
            #expect(reads <= 40)
            #expect((0...head + 1).contains(found))
        }
    }

    @Test func aHeadBeforeTheTargetLeavesNothingToSearch() {
        let (found, reads) = Self.search(head: 1_000, target: 10_000) { $0 }
        #expect(found == 1_001)
        #expect(reads == 0)
    }

    /// The windows cover the range once, oldest first, no wider than allowed; a refusal halves the window asked for and
    /// every one after it; the windows and the halvings are counted.
    @Test func windowsCoverTheRangeOnceAndAreBounded() {
        var windows = LogWindows(from: 100, to: 10_099, maxRange: 2_000, maxWindows: 64, maxHalvings: 10)
        var asked: [ClosedRange<Int64>] = []
        while let window = windows.next {
            if window.lowerBound == 4_100, windows.size == 2_000 {
                let halved = windows.refused()
                #expect(halved)
                continue
            }
            asked.append(window)
            windows.answered()
        }
        #expect(windows.coveredAll)
        #expect(asked == [100...2_099, 2_100...4_099, 4_100...5_099, 5_100...6_099, 6_100...7_099, 7_100...8_099, 8_100...9_099, 9_100...10_099])

        var capped = LogWindows(from: 0, to: 50_000_000, maxRange: 2_000, maxWindows: 64, maxHalvings: 10)
        var count = 0
        while capped.next != nil {
            capped.answered()
            count += 1
        }
        #expect(count == 64)
        #expect(!capped.coveredAll)

        var refusing = LogWindows(from: 0, to: 50_000_000, maxRange: 2_000, maxWindows: 64, maxHalvings: 10)
        var halvings = 0
        while refusing.refused() { halvings += 1 }
        #expect(halvings == 10)
        #expect(refusing.size == 1)
        #expect(refusing.next == 0...0)
    }
}
