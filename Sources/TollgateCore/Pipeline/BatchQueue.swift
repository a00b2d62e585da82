import Synchronization

/// Work that arrives while a batch is being handled waits, then is handled with everything else that waited, up to
/// `maxBatch` at a time: the queue behind the stores' group commits (one durable commit for the writes in flight).
/// The queue only decides what goes together, and counts what its batches did (`CommitStatistics`); its owner drains
/// it where its commits run (`add` says when to start, `nextBatch` until nil, `finished` after each batch): SQLite's
/// committer on its writer thread, answering the callers from there; PostgreSQL's in a task.
public final class BatchQueue<Job: Sendable>: Sendable {
    private struct State {
        var pending: [Job] = []
        /// When each pending job arrived, in nanoseconds since `origin` (beside `pending`: a plain array of integers
        /// keeps this generic queue free of per-call tuple metadata and key paths).
        var arrivals: [Int64] = []
        var draining = false
    }

    private let state = Mutex(State())
    private let counts = Mutex(BatchCounts())
    private let maxBatch: Int
    private let origin = ContinuousClock.now

    /// What the queue's batches did since it was made (metrics, `/admin/status`, tests, benchmarks).
    public var statistics: CommitStatistics { counts.withLock { $0.statistics } }

    /// Jobs waiting for a batch now (tests: a backlog built before the writer takes it).
    public var waiting: Int { state.withLock { $0.pending.count } }

    public init(maxBatch: Int) {
        self.maxBatch = max(1, maxBatch)
    }

    /// Queues `job`; true when the queue was idle: the caller must then drain it (`nextBatch` until nil).
    public func add(_ job: Job) -> Bool {
        let arrived = elapsed()
        return state.withLock { state -> Bool in
            state.pending.append(job)
            state.arrivals.append(arrived)
            guard !state.draining else { return false }
            state.draining = true
            return true
        }
    }

    /// The next batch, or nil when nothing waits (the queue is then idle, and the next `add` starts a drain again).
    /// Call `finished(_:succeeded:)` once the batch is done.
    public func nextBatch() -> [Job]? {
        let now = elapsed()
        var waited: Int64 = 0
        let batch = state.withLock { state -> [Job]? in
            guard !state.pending.isEmpty else {
                state.draining = false
                return nil
            }
            let count = min(maxBatch, state.pending.count)
            // A job stamped after `now` may have taken the lock first: it waited nothing.
            for index in 0..<count { waited += max(0, now - state.arrivals[index]) }
            // Usually every waiting job goes: the array is handed over whole, not copied (and not kept at the size of
            // the largest backlog ever queued).
            guard count < state.pending.count else {
                defer {
                    state.pending = []
                    state.arrivals.removeAll(keepingCapacity: true)
                }
                return state.pending
            }
            let batch = Array(state.pending.prefix(count))
            state.pending.removeFirst(count)
            state.arrivals.removeFirst(count)
            return batch
        }
        guard let batch else { return nil }
        counts.withLock {
            $0.statistics.started += batch.count
            $0.statistics.waitSeconds += Double(waited) / 1e9
            $0.batchStarted = now
        }
        return batch
    }

    /// Counts the batch `nextBatch` returned last, of `jobs` jobs: committed (`succeeded`) or not.
    public func finished(_ jobs: Int, succeeded: Bool) {
        let now = elapsed()
        counts.withLock {
            $0.statistics.busySeconds += Double(now - $0.batchStarted) / 1e9
            if succeeded {
                $0.statistics.commits += 1
                $0.statistics.writes += jobs
            } else {
                $0.statistics.failedBatches += 1
            }
        }
    }

    /// Takes every job still waiting (a batch that failed for a reason that fails them too).
    public func takeAll() -> [Job] {
        state.withLock { state in
            defer {
                state.pending.removeAll()
                state.arrivals.removeAll()
            }
            return state.pending
        }
    }

    /// Nanoseconds since the queue was made.
    private func elapsed() -> Int64 {
        let (seconds, attoseconds) = (ContinuousClock.now - origin).components
        return seconds * 1_000_000_000 + attoseconds / 1_000_000_000
    }
}

/// The statistics, and when the batch being run started (one drainer at a time runs batches).
private struct BatchCounts {
    var statistics = CommitStatistics()
    var batchStarted: Int64 = 0
}
