import Synchronization

/// Work that arrives while a batch is being handled waits, then is handled with everything else that waited, up to
/// `maxBatch` at a time: the queue behind the stores' group commits (one durable commit for the writes in flight).
/// `handle` answers every job of its batch and says whether the batch succeeded; the queue only decides what goes
/// together, and counts what succeeded.
public final class BatchQueue<Job: Sendable>: Sendable {
    private struct State {
        var pending: [Job] = []
        var draining = false
    }

    private let state = Mutex(State())
    private let counts = Mutex((batches: 0, jobs: 0))
    private let maxBatch: Int
    private let handle: @Sendable ([Job]) async -> Bool

    /// Batches that succeeded and the jobs they held, since the queue was made (tests, benchmarks).
    public var succeeded: (batches: Int, jobs: Int) { counts.withLock { $0 } }

    public init(maxBatch: Int, handle: @escaping @Sendable ([Job]) async -> Bool) {
        self.maxBatch = max(1, maxBatch)
        self.handle = handle
    }

    /// Queues `job`; the first job of an idle queue starts the drain.
    public func enqueue(_ job: Job) {
        let startDrain = state.withLock { state -> Bool in
            state.pending.append(job)
            guard !state.draining else { return false }
            state.draining = true
            return true
        }
        if startDrain { Task { await self.drain() } }
    }

    /// Takes every job still waiting (a batch that failed for a reason that fails them too).
    public func takeAll() -> [Job] {
        state.withLock { state in
            defer { state.pending.removeAll() }
            return state.pending
        }
    }

    private func drain() async {
        while true {
            let batch = state.withLock { state -> [Job] in
                let batch = Array(state.pending.prefix(maxBatch))
                state.pending.removeFirst(batch.count)
                if batch.isEmpty { state.draining = false }
                return batch
            }
            guard !batch.isEmpty else { return }
            if await handle(batch) {
                counts.withLock {
                    $0.batches += 1
                    $0.jobs += batch.count
                }
            }
        }
    }
}
