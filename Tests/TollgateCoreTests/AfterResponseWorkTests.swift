import Synchronization
import Testing
import TollgateCore

/// Work started after an answer has left is waited for at shutdown: a refund of an undelivered answer is never lost to
/// a stop.
@Suite struct AfterResponseWorkTests {
    /// Opened by the test; the work waits for it.
    final class Gate: Sendable {
        private let opened = Mutex<[CheckedContinuation<Void, Never>]?>([])

        func wait() async {
            await withCheckedContinuation { continuation in
                let waiting = opened.withLock { waiters -> Bool in
                    guard waiters != nil else { return false }
                    waiters?.append(continuation)
                    return true
                }
                if !waiting { continuation.resume() }
            }
        }

        func open() {
            for waiter in opened.withLock({ waiters in defer { waiters = nil }; return waiters ?? [] }) { waiter.resume() }
        }
    }

    @Test func drainingWaitsForWorkStillRunningIncludingWorkItStarted() async {
        let work = AfterResponseWork()
        let gate = Gate()
        let finished = Atomic<Int>(0)
        work.start {
            await gate.wait()
            // Work started by work still running is waited for too.
            work.start {
                await gate.wait()
                finished.add(1, ordering: .relaxed)
            }
            finished.add(1, ordering: .relaxed)
        }
        #expect(work.count == 1)
        let drained = Task { () -> Int in
            await work.drain()
            return finished.load(ordering: .relaxed)
        }
        for _ in 0..<20 { await Task.yield() }
        gate.open()
        #expect(await drained.value == 2)
        #expect(work.count == 0)
        // Nothing running: draining returns at once.
        await work.drain()
    }
}
