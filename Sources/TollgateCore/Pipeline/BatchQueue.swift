import Synchronization

/// Work that arrives while a batch is being handled waits, then is handled with everything else that waited, up to
/// `maxBatch` at a time: the queue behind the stores' group commits (one durable commit for the writes in flight).
/// The queue only decides what goes together, and counts what its batches did (`CommitStatistics`); its owner drains it
/// where its commits run (`add` says when to start, `nextBatch` until nil, `finished` after each batch): SQLite's committer on its writer thread, answering the callers
/// from there; PostgreSQL's in a task.
public final class BatchQueue<Job: Sendable>: Sendable {
    private struct State {
        var pending: [(job: Job, arrived: ContinuousClock.Instant)] = []
        var draining = false
    }

    private let state = Mutex(State())
    private let counts = Mutex(CommitStatistics())
    private let maxBatch: Int

    /// What the queue's batches did since it was made (metrics, `/admin/status`, tests, benchmarks).
    public var statistics: CommitStatistics { counts.withLock { $0 } }

    public init(maxBatch: Int) {
        self.maxBatch = max(1, maxBatch)
    }

    /// Queues `job`; true when the queue was idle: the caller must then drain it (`nextBatch` until nil).
    public func add(_ job: Job) -> Bool {
        let arrived = ContinuousClock.now
        return state.withLock { state -> Bool in
            state.pending.append((job, arrived))
            guard !state.draining else { return false }
            state.draining = true
            return true
        }
    }

    /// The next batch and when it started, or nil when nothing waits (the queue is then idle, and the next `add`
    /// starts a drain again). Pass the start to `finished(_:succeeded:since:)` once the batch is done.
    public func nextBatch() -> (jobs: [Job], started: ContinuousClock.Instant)? {
        let now = ContinuousClock.now
        guard let taken = state.withLock({ state -> [(job: Job, arrived: ContinuousClock.Instant)]? in
            guard !state.pending.isEmpty else {
                state.draining = false
                return nil
            }
            let batch = Array(state.pending.prefix(maxBatch))
            state.pending.removeFirst(batch.count)
            return batch
        }) else { return nil }
        var waited = Duration.zero
        for entry in taken { waited += now - entry.arrived }
        let seconds = Self.seconds(waited)
        counts.withLock {
            $0.started += taken.count
            $0.waitSeconds += seconds
        }
        return (taken.map(\.job), now)
    }

    /// Counts a batch of `jobs` writes, started at `started`: committed (`succeeded`) or not.
    public func finished(_ jobs: Int, succeeded: Bool, since started: ContinuousClock.Instant) {
        let busy = Self.seconds(ContinuousClock.now - started)
        counts.withLock {
            $0.busySeconds += busy
            if succeeded {
                $0.commits += 1
                $0.writes += jobs
            } else {
                $0.failedBatches += 1
            }
        }
    }

    /// Takes every job still waiting (a batch that failed for a reason that fails them too).
    public func takeAll() -> [Job] {
        state.withLock { state in
            defer { state.pending.removeAll() }
            return state.pending.map(\.job)
        }
    }

    private static func seconds(_ duration: Duration) -> Double {
        let (seconds, attoseconds) = duration.components
        return Double(seconds) + Double(attoseconds) * 1e-18
    }
}
