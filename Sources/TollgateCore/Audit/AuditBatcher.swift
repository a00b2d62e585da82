import Logging
import ServiceLifecycle

/// Group-commits unpaid-path audit events: they are buffered and written at most `interval` later,
/// so issuing a 402 writes nothing synchronously. Paid-path events never go through here.
///
/// Memory stays bounded: when `capacity` events are waiting, `record` waits for a flush instead of
/// growing the buffer (a flood slows down rather than exhausting memory or losing events).
public actor AuditBatcher: Service {
    private let store: any TollgateStore
    private let interval: Duration
    private let capacity: Int
    private let logger: Logger
    private var buffer: [AuditEvent] = []

    public init(store: any TollgateStore, interval: Duration = .milliseconds(200), capacity: Int = 8192, logger: Logger) {
        self.store = store
        self.interval = interval
        self.capacity = capacity
        self.logger = logger
        buffer.reserveCapacity(256)
    }

    public func record(_ events: AuditEvent...) async {
        buffer.append(contentsOf: events)
        if buffer.count >= capacity { await flush() }
    }

    /// Writes everything buffered now.
    public func flush() async {
        guard !buffer.isEmpty else { return }
        let batch = buffer
        buffer.removeAll(keepingCapacity: true)
        do {
            try await store.append(batch)
        } catch {
            // Put the batch back so nothing is lost while the store is down; the next flush retries.
            logger.error("audit batch not written", metadata: ["tollgate.events": "\(batch.count)", "tollgate.error": "\(error)"])
            buffer.insert(contentsOf: batch, at: 0)
        }
    }

    public func run() async throws {
        try? await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                try await Task.sleep(for: self.interval)
                // Written outside this task, so a shutdown arriving mid-write never cancels the write.
                await Task { await self.flush() }.value
            }
        }
        // The last batch is written outside the cancelled task, so shutting down never drops events.
        await Task { await self.flush() }.value
    }
}
