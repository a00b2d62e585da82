import Synchronization

/// Work that arrives while a batch is being handled waits, then is handled with everything else that waited, up to
/// `maxBatch` at a time: the queue behind the stores' group commits (one durable commit for the writes in flight).
/// The queue only decides what goes together, and counts what succeeded; its owner drains it where its commits run
/// (`add` says when to start, `nextBatch` until nil): SQLite's committer on its writer thread, answering the callers
/// from there; PostgreSQL's in a task.
public final class BatchQueue<Job: Sendable>: Sendable {
    private struct State {
        var pending: [Job] = []
        var draining = false
    }

    private let state = Mutex(State())
    private let counts = Mutex((batches: 0, jobs: 0))
    private let maxBatch: Int

    /// Batches that succeeded and the jobs they held, since the queue was made (tests, benchmarks).
    public var succeeded: (batches: Int, jobs: Int) { counts.withLock { $0 } }

    public init(maxBatch: Int) {
        self.maxBatch = max(1, maxBatch)
    }

    /// Queues `job`; true when the queue was idle: the caller must then drain it (`nextBatch` until nil).
    public func add(_ job: Job) -> Bool {
        state.withLock { state -> Bool in
            state.pending.append(job)
            guard !state.draining else { return false }
            state.draining = true
            return true
        }
    }

    /// The next batch, or nil when nothing waits (the queue is then idle, and the next `add` starts a drain again).
    public func nextBatch() -> [Job]? {
        state.withLock { state -> [Job]? in
            guard !state.pending.isEmpty else {
                state.draining = false
                return nil
            }
            let batch = Array(state.pending.prefix(maxBatch))
            state.pending.removeFirst(batch.count)
            return batch
        }
    }

    /// Counts a batch that succeeded.
    public func succeeded(_ jobs: Int) {
        counts.withLock {
            $0.batches += 1
            $0.jobs += jobs
        }
    }

    /// Takes every job still waiting (a batch that failed for a reason that fails them too).
    public func takeAll() -> [Job] {
        state.withLock { state in
            defer { state.pending.removeAll() }
            return state.pending
        }
    }
}
