import ServiceLifecycle
import Synchronization

/// Work a door starts once its answer has left (a settled answer that was never written: its refund). Tracked, so a graceful shutdown waits for it before the store closes: a stop
/// never loses the record of an answer that was paid for and not delivered.
///
/// As a Service it does nothing until the graceful shutdown, then waits for what is still running. It belongs early in
/// the service group (after the audit batcher): services stop in reverse order, so the doors have stopped when it drains.
public final class AfterResponseWork: Service, Sendable {
    private struct Running {
        var tasks: [Int: Task<Void, Never>] = [:]
        var next = 0
    }

    private let running = Mutex(Running())

    public init() {}

    /// Runs `work` in a task of its own, tracked until it ends. The task is not cancelled with its starter (a
    /// request's task, whose connection is gone): awaiting its `value` waits for the work whatever befalls the caller.
    @discardableResult
    public func start(_ work: @escaping @Sendable () async -> Void) -> Task<Void, Never> {
        // Registered under the lock the task's own end takes: a task that ends at once is never left behind.
        running.withLock { running in
            let id = running.next
            running.next += 1
            let task = Task { [weak self] in
                await work()
                _ = self?.running.withLock { $0.tasks.removeValue(forKey: id) }
            }
            running.tasks[id] = task
            return task
        }
    }

    /// How many are still running.
    public var count: Int { running.withLock { $0.tasks.count } }

    /// Waits until nothing started is running, including work started meanwhile.
    public func drain() async {
        while let task = running.withLock({ $0.tasks.values.first }) {
            await task.value
            // A task that ended before it removed itself (its gateway gone) is not waited for again.
            running.withLock { running in
                for (id, candidate) in running.tasks where candidate == task { running.tasks.removeValue(forKey: id) }
            }
        }
    }

    public func run() async throws {
        try? await gracefulShutdown()
        await drain()
    }
}
