import Synchronization

/// Work that arrives while a batch is being handled waits, then is handled with everything else that waited, up to
/// `maxBatch` at a time: the queue behind the stores' group commits (one durable commit for the writes in flight).
/// The queue only decides what goes together, and counts what succeeded; its owner drains it, either in a task of
/// the queue's own (`init(maxBatch:handle:)`, for asynchronous stores) or on a thread of its own (`add`, `nextBatch`,
/// `succeeded(_:)`: SQLite's writer drains on its writer thread and answers the callers from there, saving the trip
/// through a task).
public final class BatchQueue<Job: Sendable>: Sendable {
    private struct State {
        var pending: [Job] = []
        var draining = false
    }

    private let state = Mutex(State())
    private let counts = Mutex((batches: 0, jobs: 0))
    private let maxBatch: Int
    private let handle: (@Sendable ([Job]) async -> Bool)?

    /// Batches that succeeded and the jobs they held, since the queue was made (tests, benchmarks).
    public var succeeded: (batches: Int, jobs: Int) { counts.withLock { $0 } }

    /// A queue its owner drains (`add`, `nextBatch`).
    public init(maxBatch: Int) {
        self.maxBatch = max(1, maxBatch)
        self.handle = nil
    }

    /// A queue that drains itself in a task: `handle` answers every job of its batch and says whether the batch succeeded.
    public init(maxBatch: Int, handle: @escaping @Sendable ([Job]) async -> Bool) {
        self.maxBatch = max(1, maxBatch)
        self.handle = handle
    }

    /// Queues `job`; the first job of an idle queue starts the drain (a queue made with `handle`).
    public func enqueue(_ job: Job) {
        if add(job) { Task { await self.drain() } }
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

    private func drain() async {
        guard let handle else { return }
        while let batch = nextBatch() {
            if await handle(batch) { succeeded(batch.count) }
        }
    }
}
