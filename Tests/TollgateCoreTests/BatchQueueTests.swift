import Testing
import TollgateCore

/// The queue behind both stores' group commits: what goes together, and what its statistics say.
@Suite struct BatchQueueTests {
    @Test func batchesAreCutAtTheLimitAndCounted() {
        let clock = ContinuousClock()
        let start = clock.now
        let queue = BatchQueue<Int>(maxBatch: 2)
        #expect(queue.add(1))
        for job in 2...5 { #expect(!queue.add(job)) }
        #expect(queue.nextBatch() == [1, 2])
        queue.finished(2, succeeded: true)
        #expect(queue.nextBatch() == [3, 4])
        queue.finished(2, succeeded: false)
        #expect(queue.nextBatch() == [5])
        queue.finished(1, succeeded: true)
        #expect(queue.nextBatch() == nil)
        let elapsed = clock.now - start
        let statistics = queue.statistics
        #expect(statistics.commits == 2 && statistics.writes == 3 && statistics.failedBatches == 1 && statistics.started == 5)
        // In seconds, and never more than the test lasted: five jobs waited at most that long each, one drainer was busy
        // at most that long.
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18
        #expect(statistics.waitSeconds >= 0 && statistics.waitSeconds <= 5 * seconds)
        #expect(statistics.busySeconds >= 0 && statistics.busySeconds <= seconds)
        // Idle again: the next job starts a drain.
        #expect(queue.add(6))
        #expect(queue.nextBatch() == [6])
    }

    /// Jobs taken away with `takeAll` take their arrival times with them: the next batch is measured from its own.
    @Test func takeAllLeavesAnEmptyQueue() {
        let queue = BatchQueue<Int>(maxBatch: 8)
        #expect(queue.add(1))
        #expect(!queue.add(2))
        #expect(queue.takeAll() == [1, 2])
        #expect(queue.nextBatch() == nil)
        #expect(queue.statistics.started == 0)
        #expect(queue.add(3))
        #expect(queue.nextBatch() == [3])
        queue.finished(1, succeeded: true)
        let statistics = queue.statistics
        #expect(statistics.started == 1 && statistics.writes == 1 && statistics.waitSeconds < 60)
    }
}
